/** The defaults a broker on a small device starts with, as a client sees them. */
import { describe, expect, it } from 'vitest';
import type { IConnackPacket } from 'mqtt-packet';
import { useBroker } from '../helpers/broker.js';
import { RawClient } from '../helpers/clients.js';
import { DEFAULT_LIMITS } from '../../src/config/index.js';

const tb = useBroker();

describe('edge-sized defaults', () => {
  it('CONNACK announces Receive Maximum 32 and Maximum Packet Size 1 MiB', async () => {
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'defaults', clean: true, keepalive: 0 });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.properties).toMatchObject({ receiveMaximum: 32, maximumPacketSize: 1024 * 1024 });
    expect(DEFAULT_LIMITS.receiveMaximum).toBe(32);
  });

  it('a publisher that sends Receive Maximum + 1 unreleased QoS 2 messages gets DISCONNECT 0x93 (the incoming QoS 2 bound)', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'rm-excess', protocolVersion: 5 });
    for (let id = 1; id <= 32; id++) client.send({ cmd: 'publish', topic: 'rm/t', payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false });
    for (let i = 0; i < 32; i++) await client.next('pubrec');
    client.send({ cmd: 'publish', topic: 'rm/t', payload: Buffer.from('x'), qos: 2, messageId: 33, retain: false, dup: false });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x93 });
    await client.waitClosed();
  });

  it('a PUBACK or PUBREC 0x10 (no matching subscribers) is not an error: it carries no reason string', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'no-reason', protocolVersion: 5 });
    const bytes: Buffer[] = [];
    client.socket.on('data', (chunk: Buffer) => bytes.push(chunk));
    client.send({ cmd: 'publish', topic: 'nobody/listens', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false });
    expect(await client.next('puback')).toMatchObject({ reasonCode: 0x10 });
    client.send({ cmd: 'publish', topic: 'nobody/listens', payload: Buffer.from('x'), qos: 2, messageId: 2, retain: false, dup: false });
    expect(await client.next('pubrec')).toMatchObject({ reasonCode: 0x10 });
    // PUBACK 0x10 and PUBREC 0x10 in their short forms: id + reason code, no property list.
    expect(Buffer.concat(bytes).toString('hex')).toBe('4003000110' + '5003000210');
  });
});
