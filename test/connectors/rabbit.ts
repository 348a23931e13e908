/**
 * The RabbitMQ node an AMQP connector test file runs against: started once for the file (its own
 * node, ports and temp dir), the file's clients closed after each test, its cleanups run and the
 * node destroyed at the end. Without the Debian package the file's tests skip with a message.
 */
import type { ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { closeAllClients } from '../helpers/clients.js';
import { announceSkip } from '../helpers/peers.js';
import { RabbitServer, serverPackages } from '../helpers/servers.js';

export interface RabbitFixture {
  readonly isAvailable: boolean;
  /** The node (only inside tests: it is started in beforeAll). */
  readonly server: RabbitServer;
  readonly url: string;
  /** Run at the end of the file, last added first, before the node goes. */
  readonly cleanups: Array<() => Promise<unknown>>;
  /** A connection whose errors are not thrown (the tests stop and kill the server). */
  connect(): Promise<ChannelModel>;
  /** Runs `use` on a fresh connection and closes it. */
  withConnection<T>(use: (connection: ChannelModel) => Promise<T>): Promise<T>;
}

export function rabbitFixture(what: string): RabbitFixture {
  const isAvailable = serverPackages.rabbitmq.isAvailable;
  announceSkip(isAvailable, what, serverPackages.rabbitmq.debianPackage);
  let rabbit: RabbitServer | undefined;
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    if (isAvailable) rabbit = await RabbitServer.create();
  }, 120_000);
  afterEach(closeAllClients);
  afterAll(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    await rabbit?.destroy();
  }, 60_000);
  const server = (): RabbitServer => {
    if (!rabbit) throw new Error('RabbitMQ is not started (outside a test, or the package is absent)');
    return rabbit;
  };
  const connect = async (): Promise<ChannelModel> => {
    const amqp = await import('amqplib');
    const connection = await amqp.connect(server().url);
    connection.on('error', () => undefined);
    return connection;
  };
  return {
    isAvailable,
    get server() {
      return server();
    },
    get url() {
      return server().url;
    },
    cleanups,
    connect,
    async withConnection(use) {
      const connection = await connect();
      try {
        return await use(connection);
      } finally {
        await connection.close();
      }
    },
  };
}
