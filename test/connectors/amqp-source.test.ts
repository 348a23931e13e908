/**
 * The AMQP source against a real RabbitMQ (one node for this file): a queue consumed with manual
 * acks and a prefetch window, each delivery acked only after Midge committed its command. The
 * scenarios are in source-scenarios.ts.
 */
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import type { ChannelModel } from 'amqplib';
import { closeAllClients } from '../helpers/clients.js';
import { announceSkip } from '../helpers/peers.js';
import { RabbitServer, serverPackages } from '../helpers/servers.js';
import { defineSourceScenarios, MAPPING, type SourceDriver } from './source-scenarios.js';

const available = serverPackages.rabbitmq.isAvailable;
announceSkip(available, 'the AMQP source tests', serverPackages.rabbitmq.debianPackage);

let rabbit: RabbitServer;
const cleanups: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  if (available) rabbit = await RabbitServer.create();
}, 120_000);
afterEach(closeAllClients);
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  await rabbit?.destroy();
}, 60_000);

async function withConnection<T>(use: (connection: ChannelModel) => Promise<T>): Promise<T> {
  const amqp = await import('amqplib');
  const connection = await amqp.connect(rabbit.url);
  connection.on('error', () => undefined);
  try {
    return await use(connection);
  } finally {
    await connection.close();
  }
}

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
    const line = rabbit
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
    return rabbit;
  },
};

describe.skipIf(!available)('AMQP source (RabbitMQ)', () => {
  defineSourceScenarios(() => driver, cleanups);
});
