import { describe, expect, it } from 'vitest';
import type { IConnackPacket } from 'mqtt-packet';
import { useBroker } from '../helpers/broker.js';
import { connectClient, RawClient } from '../helpers/clients.js';

const tb = useBroker();

describe('CONNECT / CONNACK', () => {
  it.each([3, 4, 5] as const)('[3.1.1 MQTT-3.1.4-4] accepts protocol level %i with CONNACK 0', async (version) => {
    const client = await RawClient.open(tb.port, version);
    client.send({ cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clientId: `v${version}`, clean: true, keepalive: 0 });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.returnCode ?? connack.reasonCode).toBe(0);
    expect(connack.sessionPresent).toBe(false);
  });

  it('[3.1.1 MQTT-3.1.2-2] [5.0 MQTT-3.1.2-2] answers an unsupported protocol level with CONNACK 0x01 and closes', async () => {
    const client = await RawClient.open(tb.port);
    // CONNECT with protocol name MQTT and level 6.
    client.writeBytes([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, 0x61]);
    await client.waitClosed();
    expect(client.packets[0]).toMatchObject({ cmd: 'connack', returnCode: 1 });
  });

  it('[3.1.1 MQTT-3.1.3-6] assigns a client id to an empty one with clean session (3.1.1)', async () => {
    const client = await RawClient.connect(tb.port, { clientId: '', clean: true });
    expect(client.isClosed).toBe(false);
    expect(tb.broker.admin.connectionCount).toBeGreaterThan(0);
    expect([...tb.broker.admin.clients()].map((c) => c.clientId).some((id) => id.startsWith('midge-'))).toBe(true);
  });

  it('[5.0 MQTT-3.2.2-16] [5.0 MQTT-3.1.3-6] MQTT 5: returns the assigned client identifier', async () => {
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: '', clean: true, keepalive: 0 });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.assignedClientIdentifier).toMatch(/^midge-/);
  });

  it('[3.1.1 MQTT-3.1.3-8] rejects an empty client id with clean session 0 (3.1.1) with 0x02, then closes', async () => {
    const client = await RawClient.open(tb.port, 4);
    // CONNECT 3.1.1, flags 0x00 (CleanSession=0), keep-alive 0, empty client id: MQTT.js and
    // mqtt-packet refuse to encode it, so the bytes are written by hand.
    client.writeBytes([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]);
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.returnCode).toBe(2);
    expect(connack.sessionPresent).toBe(false);
    await client.waitClosed();
  });

  it('[3.1.1 MQTT-3.1.0-2] a second CONNECT is a protocol violation: the connection is closed', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'twice' });
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'twice', clean: true, keepalive: 0 });
    await client.waitClosed();
  });

  it('MQTT 5: a second CONNECT gets DISCONNECT 0x82 (protocol error)', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'twice5', protocolVersion: 5 });
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'twice5', clean: true, keepalive: 0 });
    const disconnect = await client.next('disconnect');
    expect(disconnect).toMatchObject({ reasonCode: 0x82 });
    await client.waitClosed();
  });

  it('[3.1.1 MQTT-3.1.0-1] a first packet other than CONNECT closes the connection without CONNACK', async () => {
    const client = await RawClient.open(tb.port);
    client.send({ cmd: 'pingreq' });
    await client.waitClosed();
    expect(client.packets).toEqual([]);
  });

  it('[3.1.1 MQTT-3.2.0-1] CONNACK is the first packet the server sends', async () => {
    const client = await RawClient.open(tb.port, 4);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'first', clean: true, keepalive: 0 });
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
    // The only packet received before the PINGRESP is the CONNACK.
    expect(client.packets.map((p) => p.cmd)).toEqual(['connack']);
  });

  it('MQTT 5 CONNACK tells the client the server limits', async () => {
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'limits', clean: true, keepalive: 0 });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.properties).toMatchObject({
      receiveMaximum: 32,
      topicAliasMaximum: 64,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    });
  });

  it('MQTT.js 3.1.1 and 5.0 clients connect', async () => {
    const v4 = await connectClient(tb.url, { clientId: 'mqttjs4', protocolVersion: 4 });
    const v5 = await connectClient(tb.url, { clientId: 'mqttjs5', protocolVersion: 5 });
    expect(v4.connected && v5.connected).toBe(true);
  });

  it('[3.1.1 MQTT-3.1.2-3] a CONNECT with the reserved flag set is malformed: closed', async () => {
    const client = await RawClient.open(tb.port);
    // Connect flags 0x03: clean session + reserved bit.
    client.writeBytes([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x00, 0x00, 0x01, 0x61]);
    await client.waitClosed();
    expect(client.packets.filter((p) => p.cmd === 'connack' && (p as IConnackPacket).returnCode === 0)).toEqual([]);
  });
});
