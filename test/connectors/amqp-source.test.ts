/**
 * The AMQP source against a real RabbitMQ (one node for this file): a queue consumed with manual
 * acks and a prefetch window, each delivery acked only after Midge committed its command. The
 * scenarios are in source-scenarios.ts.
 */
import { describe, expect, it } from 'vitest';
import type { SourceStatus } from '../../src/connectors/index.js';
import { connectClient, connectCollecting } from '../helpers/clients.js';
import { startBroker } from '../helpers/broker.js';
import { rabbitFixture } from './rabbit.js';
import { defineSourceScenarios, MAPPING, type SourceDriver } from './source-scenarios.js';

const rabbit = rabbitFixture('the AMQP source tests');
const withConnection = rabbit.withConnection;

const driver: SourceDriver = {
  connector: (name, queue, source = {}) => ({ name, type: 'amqp', url: rabbit.url, source: { queue, ...MAPPING, ...source } }),
  prepare: (queue) =>
    withConnection(async (connection) => {
      const channel = await connection.createChannel();
      await channel.assertQueue(queue, { durable: true });
      await channel.purgeQueue(queue);
    }),
  produce: (queue, commands) =>
    withConnection(async (connection) => {
      const channel = await connection.createConfirmChannel();
      for (const c of commands) channel.sendToQueue(queue, Buffer.from(typeof c === 'string' ? c : JSON.stringify(c)), { persistent: true });
      await channel.waitForConfirms();
    }),
  // Ready and unacknowledged: checkQueue counts only the ready ones.
  remaining: async (queue) => {
    // amqplib writes frames on setImmediate and rabbitmqctl runs synchronously: let an ack the
    // source just made reach the socket first, or the blocked loop holds it back and it counts.
    await new Promise((resolve) => setImmediate(resolve));
    const line = rabbit.server
      .ctl('list_queues', '-q', '--no-table-headers', 'name', 'messages')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((fields) => fields[0] === queue);
    if (!line) throw new Error(`queue ${queue} not listed`);
    return Number(line[1]);
  },
  flagsRedelivery: true,
  smallWindow: { prefetch: 20 },
  get server() {
    return rabbit.server;
  },
};

describe.skipIf(!rabbit.isAvailable)('AMQP source (RabbitMQ)', () => {
  defineSourceScenarios(() => driver, rabbit.cleanups);
});

describe.skipIf(!rabbit.isAvailable)('AMQP source: AMQP properties become MQTT 5 properties', () => {
  it('expiration → Message Expiry Interval (an expired one dropped, counted), replyTo → Response Topic, correlationId → Correlation Data, contentType, headers → user properties', async () => {
    const queue = 'props';
    await driver.prepare(queue);
    const tb = await startBroker({ store: { type: 'level' }, connectors: [driver.connector('props', queue, { userProperties: { via: 'rabbit', n: '${json.n}' } })] });
    rabbit.cleanups.push(() => tb.cleanup());
    const device = { clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 } };
    const first = await connectClient(tb.url, { clientId: 'dev-props', ...device });
    await first.subscribeAsync('cmd/dev-props', { qos: 1 });
    await first.endAsync();
    const nowSeconds = Math.floor(Date.now() / 1000);
    await withConnection(async (connection) => {
      const channel = await connection.createConfirmChannel();
      const body = (n: number): Buffer => Buffer.from(JSON.stringify({ device: 'dev-props', n }));
      channel.sendToQueue(queue, body(1), {
        persistent: true,
        expiration: '60000',
        timestamp: nowSeconds,
        replyTo: 'replies/dev-props',
        correlationId: 'corr-1',
        contentType: 'application/json',
        headers: { site: 'north', count: 7, isTest: true, 'x-death': [{ reason: 'expired' }], 'x-mqtt-topic': 'not/a/user/property', n: 'from-header' },
      });
      // Stamped two minutes ago with a one-minute TTL: expired before Midge takes it (RabbitMQ
      // counts its TTL from the enqueue, so it hands it over).
      channel.sendToQueue(queue, body(2), { persistent: true, expiration: '60000', timestamp: nowSeconds - 120 });
      // A wildcard cannot be a Response Topic: left out, the rest mapped.
      channel.sendToQueue(queue, body(3), { persistent: true, replyTo: 'replies/+', contentType: 'text/plain' });
      await channel.waitForConfirms();
    });
    await expect.poll(() => (tb.broker.serviceList.find((s) => s.name === 'props/source')!.status as SourceStatus).acked, { timeout: 30_000 }).toBe(3);
    expect(tb.broker.serviceList.find((s) => s.name === 'props/source')!.status).toMatchObject({ consumed: 3, expired: 1, published: 2, deadLettered: 0 });
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'dev-props', ...device });
    const [one, three] = await collector.waitFor(2, 20_000);
    expect([one!.payload, three!.payload]).toEqual(['1', '3']);
    const p1 = one!.packet.properties!;
    // [5.0 MQTT-3.3.2-6]: the interval the device sees is what is left of the AMQP expiration.
    expect(p1.messageExpiryInterval).toBeGreaterThanOrEqual(30);
    expect(p1.messageExpiryInterval).toBeLessThanOrEqual(61);
    expect(p1.responseTopic).toBe('replies/dev-props');
    expect(Buffer.from(p1.correlationData!).toString()).toBe('corr-1');
    expect(p1.contentType).toBe('application/json');
    // Headers as user properties (x-… ones never), the configured ones over them.
    expect(p1.userProperties).toEqual({ site: 'north', count: '7', isTest: 'true', n: '1', via: 'rabbit' });
    const p3 = three!.packet.properties!;
    expect(p3.responseTopic).toBeUndefined();
    expect(p3.contentType).toBe('text/plain');
    expect(p3.messageExpiryInterval).toBeUndefined();
    await client.endAsync();
  }, 90_000);
});
