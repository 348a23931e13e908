import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/broker.js';
import { connectClient, MessageCollector, RawClient } from '../helpers/clients.js';

describe.each([4, 5] as const)('wills and keep-alive (protocol level %i)', (protocolVersion) => {
  // A broker per version: one run's client ids and retained wills never meet the other's.
  const tb = useBroker();

  async function watcher(topic: string, id: string): Promise<MessageCollector> {
    const client = await connectClient(tb.url, { clientId: id, protocolVersion });
    const collector = new MessageCollector(client);
    await client.subscribeAsync(topic, { qos: 2 });
    return collector;
  }

  it('[3.1.1 MQTT-3.1.2-8] [5.0 MQTT-3.1.2-8] the will is published when the connection drops without DISCONNECT', async () => {
    const collector = await watcher('will/1', 'w1-watch');
    const device = await RawClient.connect(tb.port, {
      clientId: 'w1-dev',
      protocolVersion,
      will: { topic: 'will/1', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    device.destroy();
    const [msg] = await collector.waitFor(1);
    expect(msg).toMatchObject({ topic: 'will/1', payload: 'gone' });
    expect(msg!.packet.qos).toBe(1);
  });

  it('[3.1.1 MQTT-3.14.4-3] [3.1.1 MQTT-3.1.2-10] [5.0 MQTT-3.14.4-3] [5.0 MQTT-3.1.2-10] a clean DISCONNECT discards the will', async () => {
    const collector = await watcher('will/2/#', 'w2-watch');
    const device = await RawClient.connect(tb.port, {
      clientId: 'w2-dev',
      protocolVersion,
      will: { topic: 'will/2/dev', payload: Buffer.from('gone'), qos: 0, retain: false },
    });
    device.send({ cmd: 'disconnect' });
    await device.waitClosed();
    const marker = await connectClient(tb.url, { clientId: 'w2-marker', protocolVersion });
    await marker.publishAsync('will/2/marker', 'm', { qos: 1 });
    const messages = await collector.waitFor(1);
    expect(messages.map((m) => m.topic)).toEqual(['will/2/marker']);
  });

  it('[3.1.1 MQTT-3.1.2-17] [5.0 MQTT-3.1.2-15] will retain is honoured: a later subscriber gets the retained will', async () => {
    const device = await RawClient.connect(tb.port, {
      clientId: 'w3-dev',
      protocolVersion,
      will: { topic: 'will/3/status', payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    device.destroy();
    await expect.poll(() => tb.broker.admin.retained('will/3/status')?.payload.toString()).toBe('offline');
    const collector = await watcher('will/3/#', 'w3-watch');
    const [msg] = await collector.waitFor(1);
    expect(msg!.packet.retain).toBe(true);
  });

  it('[3.1.1 MQTT-3.1.2-24] [5.0 MQTT-3.1.2-22] keep-alive timeout (1.5 x keep-alive) disconnects the client and publishes its will', async () => {
    const collector = await watcher('will/4', 'w4-watch');
    const device = await RawClient.connect(tb.port, {
      clientId: 'w4-dev',
      protocolVersion,
      keepalive: 1,
      will: { topic: 'will/4', payload: Buffer.from('timeout'), qos: 0, retain: false },
    });
    const startedAt = Date.now();
    await device.waitClosed(5000);
    const elapsed = Date.now() - startedAt;
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    const [msg] = await collector.waitFor(1);
    expect(msg!.payload).toBe('timeout');
  });

  it('[3.1.1 MQTT-3.1.4-2] [5.0 MQTT-3.1.4-3] a session takeover publishes the old connection’s will', async () => {
    const collector = await watcher('will/6', 'w6-watch');
    const first = await RawClient.connect(tb.port, {
      clientId: 'w6-dev',
      protocolVersion,
      will: { topic: 'will/6', payload: Buffer.from('taken over'), qos: 0, retain: false },
    });
    await RawClient.connect(tb.port, { clientId: 'w6-dev', protocolVersion });
    await first.waitClosed();
    const [msg] = await collector.waitFor(1);
    expect(msg!.payload).toBe('taken over');
  });
});

// Once, not per version: it sleeps through two keep-alive periods, and the refresh on every
// packet read is one code path for all versions.
describe('keep-alive', () => {
  const tb = useBroker();

  it('a client that keeps pinging is not disconnected by keep-alive', async () => {
    const device = await RawClient.connect(tb.port, { clientId: 'w5-dev', keepalive: 1 });
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 500));
      device.send({ cmd: 'pingreq' });
      await device.next('pingresp');
    }
    expect(device.isClosed).toBe(false);
  });
});
