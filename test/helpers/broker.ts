/** Starts in-process brokers on ephemeral ports in temp data dirs, and cleans them up. */
import { rm } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createBroker, type BrokerParts, type CreateBrokerConfig } from '../../src/create-broker.js';
import type { Broker } from '../../src/broker/index.js';
import { createLogger } from '../../src/observability/index.js';
import { makeTempDir } from './temp.js';
import { closeAllClients } from './clients.js';

export interface TestBroker {
  broker: Broker;
  port: number;
  url: string;
  dataDir: string;
  /** Stops the broker; the data dir stays until `cleanup`. */
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

export { makeTempDir };

export async function startBroker(options: CreateBrokerConfig = {}, parts: BrokerParts = {}): Promise<TestBroker> {
  const dataDir = options.dataDir ?? (await makeTempDir());
  const broker = createBroker(
    {
      // One loopback listener on a free port, unless the test brings its own list.
      ...(options.listeners ? {} : { port: 0, host: '127.0.0.1' }),
      store: { type: 'memory' },
      // Tests that want these turn them on: parallel brokers must not fight over port 8888.
      http: { enabled: false },
      sys: { interval: 0 },
      ...options,
      dataDir,
    },
    { logger: createLogger(process.env.MIDGE_TEST_LOG ?? 'silent'), ...parts },
  );
  await broker.listen();
  const port = broker.address().port;
  return {
    broker,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dataDir,
    stop: () => broker.close(),
    cleanup: async () => {
      await broker.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * One broker for a whole test file: started before the first test, cleaned up after the last,
 * with the helpers' clients closed after each test. Read it as a TestBroker inside tests.
 */
export function useBroker(options: CreateBrokerConfig = {}, parts: BrokerParts = {}): TestBroker {
  let current: TestBroker | undefined;
  beforeAll(async () => {
    current = await startBroker(options, parts);
  });
  afterAll(async () => {
    await current?.cleanup();
  });
  afterEach(closeAllClients);
  return new Proxy({} as TestBroker, {
    get: (_target, key: keyof TestBroker) => {
      if (!current) throw new Error('useBroker(): the broker is only there inside tests');
      return current[key];
    },
  });
}
