/** What a connection may do before its CONNECT is accepted: one small CONNECT, and nothing else. */
import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/broker.js';
import { connectClient, RawClient } from '../helpers/clients.js';
import { DEFAULT_LIMITS } from '../../src/config/index.js';

const tb = useBroker({ limits: { maxConnectPacketSize: 1024 } });

describe.each([4, 5] as const)('before CONNECT (protocol level %i)', (version) => {
  it('[3.1.1 MQTT-3.1.0-1] [5.0 MQTT-3.1.0-1] a first packet that is not CONNECT closes the connection at its first byte', async () => {
    const client = await RawClient.open(tb.port, version);
    // Only the type byte of a PUBLISH: nothing more is needed to decide.
    client.writeBytes([0x30]);
    await client.waitClosed();
    expect(client.packets).toEqual([]);
  });

  it('a CONNECT larger than limits.maxConnectPacketSize is refused at its header, before its body', async () => {
    const client = await RawClient.open(tb.port, version);
    // CONNECT announcing 4096 bytes; only the header and protocol name follow.
    client.writeBytes([0x10, 0x80, 0x20, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54]);
    await client.waitClosed();
  });

  it('a CONNECT within the bound is accepted, and larger packets are fine once connected', async () => {
    const client = await connectClient(tb.url, { clientId: `within-${version}`, protocolVersion: version, password: Buffer.alloc(700, 0x61).toString(), username: 'u' });
    await client.publishAsync('big/after', Buffer.alloc(50_000), { qos: 1 });
    expect(client.connected).toBe(true);
  });

  it('a packet sent right behind CONNECT (before CONNACK) may be full-sized', async () => {
    const client = await RawClient.open(tb.port, version);
    const connect = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `pipelined-${version}`, clean: true, keepalive: 0 } as const;
    const publish = { cmd: 'publish', topic: 'pipelined', payload: Buffer.alloc(20_000), qos: 1, messageId: 5, retain: false, dup: false } as const;
    client.send(connect);
    client.send(publish);
    await client.next('connack');
    expect(await client.next('puback')).toMatchObject({ messageId: 5 });
  });
});

it('the defaults bound a CONNECT to 16 KiB and any packet to 1 MiB', () => {
  expect(DEFAULT_LIMITS.maxConnectPacketSize).toBe(16 * 1024);
  expect(DEFAULT_LIMITS.maxPacketSize).toBe(1024 * 1024);
});
