/** Shared by the transport tests: a broker over given listeners, MQTT and PROXY v2 bytes, a round trip. */
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { expect } from 'vitest';
import { Broker, type Listener } from '../../src/broker/index.js';
import { resolveConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { connectClient, connectCollecting } from '../helpers/clients.js';

/** A memory-store broker listening on exactly these listeners; `ports` has each one's bound port by name. */
export async function startBrokerOn<Name extends string>(listeners: Record<Name, Listener>): Promise<{ broker: Broker; ports: Record<Name, number> }> {
  const names = Object.keys(listeners) as Name[];
  const broker = new Broker({
    config: resolveConfig({ http: { enabled: false }, sys: { interval: 0 } }),
    store: new MemoryStore(),
    logger: createLogger(process.env.MIDGE_TEST_LOG ?? 'silent'),
    listeners: names.map((name) => listeners[name]),
  });
  const addresses = await broker.listen();
  const ports = Object.fromEntries(names.map((name, i) => [name, addresses[i]!.port])) as Record<Name, number>;
  return { broker, ports };
}

export const connectPacket = (clientId: string): Buffer =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 });

/** A PROXY v2 header for a TCP over IPv4 connection from `sourceIp:sourcePort` to 10.0.0.1. */
export function v2Header(sourceIp: number[], sourcePort: number, destinationPort = 1883): Buffer {
  const header = Buffer.alloc(16 + 12);
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(header, 0);
  header[12] = 0x21; // v2, PROXY
  header[13] = 0x11; // AF_INET, STREAM
  header.writeUInt16BE(12, 14);
  Buffer.from(sourceIp).copy(header, 16);
  Buffer.from([10, 0, 0, 1]).copy(header, 20);
  header.writeUInt16BE(sourcePort, 24);
  header.writeUInt16BE(destinationPort, 26);
  return header;
}

/** Subscribes at `url`, publishes at `publisherUrl` (plain TCP), expects the message back. */
export async function roundTrip(url: string, options: mqtt.IClientOptions, id: string, publisherUrl: string): Promise<void> {
  const { client, collector } = await connectCollecting(url, { clientId: `${id}-sub`, ...options });
  await client.subscribeAsync(`rt/${id}`, { qos: 1 });
  const publisher = await connectClient(publisherUrl, { clientId: `${id}-pub` });
  await publisher.publishAsync(`rt/${id}`, `round trip ${id}`, { qos: 1 });
  const [message] = await collector.waitFor(1);
  expect(message!.payload).toBe(`round trip ${id}`);
}
