/** Generators of abusive MQTT input for the fuzz test (seeded, reproducible). */
import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/** Valid packets of every kind, encoded for a version: the raw material for mutation. */
function samplePackets(version: 3 | 4 | 5, random: () => number): Buffer[] {
  const id = 1 + Math.floor(random() * 65535);
  const packets: Packet[] = [
    { cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clientId: `fz${id}`, clean: true, keepalive: 30, will: { topic: 'fz/will', payload: Buffer.from('w'), qos: 1, retain: false } },
    { cmd: 'publish', topic: 'fz/a', payload: Buffer.alloc(Math.floor(random() * 64)), qos: 0, retain: random() < 0.2, dup: false },
    { cmd: 'publish', topic: 'fz/b/c', payload: Buffer.from('x'), qos: 1, messageId: id, retain: false, dup: false },
    { cmd: 'publish', topic: 'fz/q2', payload: Buffer.from('y'), qos: 2, messageId: id, retain: false, dup: false },
    { cmd: 'pubrel', messageId: id },
    { cmd: 'puback', messageId: id },
    { cmd: 'pubrec', messageId: id },
    { cmd: 'pubcomp', messageId: id },
    { cmd: 'subscribe', messageId: id, subscriptions: [{ topic: random() < 0.5 ? 'fz/#' : '$share/g/fz/+', qos: 1 }] },
    { cmd: 'unsubscribe', messageId: id, unsubscriptions: ['fz/#'] },
    { cmd: 'pingreq' },
    { cmd: 'disconnect' },
  ];
  return packets.map((p) => mqttPacket.generate(p, { protocolVersion: version }));
}

/** One connection's worth of abuse, chosen at random. */
export function abusiveStream(random: () => number): Buffer[] {
  const version = ([3, 4, 5] as const)[Math.floor(random() * 3)]!;
  const samples = samplePackets(version, random);
  const connect = samples[0]!;
  const pick = (): Buffer => samples[Math.floor(random() * samples.length)]!;
  const kind = Math.floor(random() * 7);
  const out: Buffer[] = [];
  switch (kind) {
    case 0: // pure random bytes
      out.push(Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256))));
      break;
    case 1: // valid CONNECT then random bytes
      out.push(connect, Buffer.from(Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256))));
      break;
    case 2: // valid CONNECT then bit-flipped valid packets
      out.push(connect);
      for (let i = 0; i < 10; i++) {
        const p = Buffer.from(pick());
        const flips = 1 + Math.floor(random() * 3);
        for (let f = 0; f < flips; f++) p[Math.floor(random() * p.length)]! ^= 1 << Math.floor(random() * 8);
        out.push(p);
      }
      break;
    case 3: // truncated packets
      out.push(connect);
      for (let i = 0; i < 5; i++) {
        const p = pick();
        out.push(p.subarray(0, Math.floor(random() * p.length)));
      }
      break;
    case 4: // wrong order: anything before CONNECT, a second CONNECT, server-only packets
      out.push(pick(), connect, connect, mqttPacket.generate(version === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: 0 } : { cmd: 'connack', sessionPresent: false, returnCode: 0 }, { protocolVersion: version }));
      break;
    case 5: // oversize announced length (larger than the 64 KiB limit the broker runs with)
      out.push(connect, Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x61]));
      break;
    default: // a storm of valid packets, some with a mutated fixed header
      out.push(connect);
      for (let i = 0; i < 30; i++) {
        const p = Buffer.from(pick());
        if (random() < 0.3) p[0] = Math.floor(random() * 256);
        out.push(p);
      }
  }
  return out;
}

export function sendAndClose(port: number, chunks: Buffer[]): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let packets = 0;
    const done = (): void => {
      socket.destroy();
      resolve(packets);
    };
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', () => undefined);
    socket.setTimeout(2000, done);
    socket.on('connect', () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        packets++;
      }
      socket.end();
    });
  });
}

