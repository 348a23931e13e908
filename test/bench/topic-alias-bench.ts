/**
 * Bytes saved by outgoing topic aliases for a fleet-shaped topic set (`devices/<id>/telemetry/<sensor>`):
 * what a subscriber on a metered (cellular) link receives with and without aliases.
 *  - encoding: the broker's own alias table and encoders over a deterministic message stream, for a
 *    few fleet sizes and client Topic Alias Maximums (no sockets; exact).
 *  - sockets: one real broker, two raw MQTT 5 subscribers (Topic Alias Maximum 64 and none), the
 *    same messages published; the bytes each socket received are counted.
 * Run: npm run bench -- aliases   (or npx tsx test/bench/topic-alias-bench.ts)
 */
import net from 'node:net';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { encodePublish, encodePublishWithAlias, OutgoingTopicAliases } from '../../src/protocol/index.js';
import { createBroker } from '../../src/index.js';
import { createLogger } from '../../src/observability/index.js';

export interface AliasSavings {
  devices: number;
  sensors: number;
  aliasMaximum: number;
  messages: number;
  bytesWithout: number;
  bytesWith: number;
  savedPercent: number;
}

const SENSORS = ['temperature', 'humidity', 'pressure', 'battery'];

/** Each round every device reports every sensor; device ids like a real fleet's (12 hex digits). */
function* fleetTopics(devices: number, sensors: number, rounds: number): Generator<string> {
  for (let round = 0; round < rounds; round++) {
    for (let d = 0; d < devices; d++) {
      for (let s = 0; s < sensors; s++) yield `devices/${(0xa4cf12000000 + d).toString(16)}/telemetry/${SENSORS[s % SENSORS.length]}`;
    }
  }
}

const PAYLOAD = Buffer.from('21.53');

export function encodingSavings(devices: number, sensors: number, aliasMaximum: number, rounds: number): AliasSavings {
  const table = new OutgoingTopicAliases(aliasMaximum);
  let without = 0;
  let withAliases = 0;
  let messages = 0;
  for (const topic of fleetTopics(devices, sensors, rounds)) {
    messages++;
    const length = Buffer.byteLength(topic);
    without += encodePublish(5, topic, length, PAYLOAD, 1, false, false, 1).length;
    const alias = table.lookup(topic);
    if (alias === 0) withAliases += encodePublish(5, topic, length, PAYLOAD, 1, false, false, 1).length;
    else {
      withAliases += encodePublishWithAlias(alias > 0 ? '' : topic, alias > 0 ? 0 : length, Math.abs(alias), PAYLOAD, 1, false, false, 1).length;
      if (alias < 0) table.assign(topic, -alias);
    }
  }
  return { devices, sensors, aliasMaximum, messages, bytesWithout: without, bytesWith: withAliases, savedPercent: (100 * (without - withAliases)) / without };
}

/** Connects a raw MQTT 5 subscriber and counts the bytes it receives after its SUBACK. */
async function countingSubscriber(port: number, clientId: string, topicAliasMaximum: number | undefined): Promise<{ bytes: () => number; publishes: () => number }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  let counting = false;
  let bytes = 0;
  let publishes = 0;
  let subacked: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (subacked = resolve));
  parser.on('packet', (packet) => {
    if (packet.cmd === 'suback') {
      counting = true;
      subacked();
    }
    if (packet.cmd === 'publish') publishes++;
  });
  socket.on('data', (chunk: Buffer) => {
    if (counting) bytes += chunk.length;
    parser.parse(chunk);
  });
  const properties = topicAliasMaximum === undefined ? {} : { properties: { topicAliasMaximum } };
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, ...properties }, { protocolVersion: 5 }));
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'devices/+/telemetry/#', qos: 0 }] }, { protocolVersion: 5 }));
  await ready;
  return { bytes: () => bytes, publishes: () => publishes };
}

export async function socketSavings(devices: number, rounds: number): Promise<{ messages: number; bytesWithout: number; bytesWith: number; savedPercent: number }> {
  const broker = createBroker({ port: 0, host: '127.0.0.1', store: { type: 'memory' }, http: { enabled: false }, sys: { interval: 0 }, dataDir: '/nonexistent-unused' }, { logger: createLogger('silent') });
  await broker.listen();
  const port = broker.address().port;
  try {
    const aliased = await countingSubscriber(port, 'bench-aliased', 64);
    const plain = await countingSubscriber(port, 'bench-plain', undefined);
    const publisher = net.connect(port, '127.0.0.1');
    await once(publisher, 'connect');
    publisher.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'bench-fleet', clean: true, keepalive: 0 }));
    let messages = 0;
    for (const topic of fleetTopics(devices, SENSORS.length, rounds)) {
      publisher.write(mqttPacket.generate({ cmd: 'publish', topic, payload: PAYLOAD, qos: 0, retain: false, dup: false }));
      messages++;
    }
    const deadline = Date.now() + 60_000;
    while ((aliased.publishes() < messages || plain.publishes() < messages) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (aliased.publishes() < messages || plain.publishes() < messages) throw new Error('not every message arrived');
    publisher.destroy();
    return { messages, bytesWithout: plain.bytes(), bytesWith: aliased.bytes(), savedPercent: (100 * (plain.bytes() - aliased.bytes())) / plain.bytes() };
  } finally {
    await broker.close();
  }
}

export async function runTopicAliasBench(isQuick: boolean): Promise<{ encoding: AliasSavings[]; sockets: Awaited<ReturnType<typeof socketSavings>> }> {
  const rounds = isQuick ? 5 : 20;
  const encoding = [
    encodingSavings(10, 4, 64, rounds),
    encodingSavings(16, 4, 64, rounds),
    encodingSavings(100, 4, 64, rounds),
    encodingSavings(100, 4, 1024, rounds),
    encodingSavings(1000, 4, 1024, rounds),
  ];
  const sockets = await socketSavings(16, rounds);
  return { encoding, sockets };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runTopicAliasBench(process.argv.includes('--quick'));
  console.log(JSON.stringify(result, null, 2));
}
