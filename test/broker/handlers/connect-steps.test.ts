/** CONNECT's named steps, over an in-memory duplex (no socket, no sleep). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonCode } from '../../../src/protocol/index.js';
import { startStreamBroker, type StreamBroker } from '../../helpers/stream-broker.js';

let sb: StreamBroker;
beforeAll(async () => {
  sb = await startStreamBroker({ limits: { maximumQoS: 1, maxKeepAlive: 60, maxClientIdLength: 32 } });
});
afterAll(() => sb?.close());

describe('client-id rules', () => {
  it('[5.0 MQTT-3.1.3-6] [5.0 MQTT-3.2.2-16] an empty id is assigned and told in the CONNACK', async () => {
    const { client, connack } = await sb.connect('', 5);
    expect(connack.reasonCode).toBe(ReasonCode.Success);
    const assigned = connack.properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^midge-/);
    expect(sb.broker.admin.isConnected(assigned!)).toBe(true);
    client.end();
  });

  it('[3.1.1 MQTT-3.1.3-8] an empty id with CleanSession 0 is refused with return code 2, then closed', async () => {
    const client = sb.open(4);
    // mqtt-packet will not write this CONNECT: 'MQTT' level 4, flags 0 (CleanSession 0), keep-alive 0, an empty id.
    client.sendRaw(Buffer.from([0x10, 12, 0, 4, ...Buffer.from('MQTT'), 4, 0x00, 0, 0, 0, 0]));
    const connack = await client.next('connack');
    expect(connack?.returnCode).toBe(2);
    expect(connack?.sessionPresent).toBe(false);
    await client.closed();
  });

  it('MQTT 3.1 requires a client id of at most 23 characters', async () => {
    const client = sb.open(3);
    // 'MQIsdp' level 3, CleanSession 1, keep-alive 0, an empty id (mqtt-packet will not write it).
    client.sendRaw(Buffer.from([0x10, 14, 0, 6, ...Buffer.from('MQIsdp'), 3, 0x02, 0, 0, 0, 0]));
    expect((await client.next('connack'))?.returnCode).toBe(2);
    expect((await sb.connect('x'.repeat(24), 3)).connack.returnCode).toBe(2);
  });

  it('[5.0 MQTT-3.1.3-8] an id over the configured length is refused with 0x85', async () => {
    const { client, connack } = await sb.connect('x'.repeat(33), 5);
    expect(connack.reasonCode).toBe(ReasonCode.ClientIdentifierNotValid);
    await client.closed();
  });

  it('ids under $bridge/ and $connector/ are the broker’s own', async () => {
    expect((await sb.connect('$bridge/x', 5)).connack.reasonCode).toBe(ReasonCode.ClientIdentifierNotValid);
    expect((await sb.connect('$connector/x', 4)).connack.returnCode).toBe(2);
  });
});

describe('will', () => {
  it('[5.0 MQTT-3.2.2-12] a will QoS above the maximum QoS is refused with 0x9B', async () => {
    const { connack } = await sb.connect('will-qos', 5, { will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false } });
    expect(connack.reasonCode).toBe(ReasonCode.QoSNotSupported);
  });

  it('an invalid will topic (not a topic name) closes the connection without a CONNACK', async () => {
    const client = sb.open(4);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'will-topic', clean: true, keepalive: 0, will: { topic: 'a/+', payload: Buffer.from('x'), qos: 0, retain: false } });
    expect(await client.next()).toBeUndefined();
  });
});

describe('keep-alive', () => {
  it('[5.0 MQTT-3.2.2-21] a keep-alive above the maximum is answered with the Server Keep Alive the client is to use', async () => {
    const { client, connack } = await sb.connect('keepalive-5', 5, { keepalive: 600 });
    expect(connack.properties?.serverKeepAlive).toBe(60);
    client.end();
  });

  it('[5.0 MQTT-3.2.2-22] a keep-alive within the maximum is not echoed: the client’s own is used', async () => {
    const { client, connack } = await sb.connect('keepalive-ok', 5, { keepalive: 30 });
    expect(connack.properties?.serverKeepAlive).toBeUndefined();
    client.end();
  });
});

describe('takeover and resume', () => {
  it('[5.0 MQTT-3.1.4-3] a second connection with the id takes over: the first gets DISCONNECT 0x8E', async () => {
    const first = await sb.connect('taken', 5);
    const second = await sb.connect('taken', 5);
    expect(second.connack.reasonCode).toBe(ReasonCode.Success);
    const disconnect = await first.client.next('disconnect');
    expect(disconnect?.reasonCode).toBe(ReasonCode.SessionTakenOver);
    await first.client.closed();
    expect(sb.broker.admin.client('taken')).toBeDefined();
    second.client.end();
  });

  it('[3.1.1 MQTT-3.2.2-2] a persistent session is resumed: Session Present 1', async () => {
    const first = await sb.connect('resumed', 4, { clean: false });
    expect(first.connack.sessionPresent).toBe(false);
    first.client.end();
    await first.client.closed();
    const again = await sb.connect('resumed', 4, { clean: false });
    expect(again.connack.sessionPresent).toBe(true);
    again.client.end();
  });

  it('[3.1.1 MQTT-3.1.2-6] clean start discards the previous session', async () => {
    const first = await sb.connect('cleaned', 4, { clean: false });
    first.client.end();
    await first.client.closed();
    const again = await sb.connect('cleaned', 4, { clean: true });
    expect(again.connack.sessionPresent).toBe(false);
    again.client.end();
  });
});

describe('CONNACK properties', () => {
  it('MQTT 5 CONNACK announces the limits (Maximum QoS 1 here) and the features', async () => {
    const { client, connack } = await sb.connect('props', 5, { properties: { requestResponseInformation: true } });
    expect(connack.properties).toMatchObject({ maximumQoS: 1, retainAvailable: true, sharedSubscriptionAvailable: true, responseInformation: 'response/props' });
    client.end();
  });

  it('[3.1.1 MQTT-3.1.0-2] a second CONNECT is a protocol violation: the connection closes', async () => {
    const { client } = await sb.connect('twice', 4);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'twice', clean: true, keepalive: 0 });
    await client.closed();
    expect(sb.broker.admin.isConnected('twice')).toBe(false);
  });
});
