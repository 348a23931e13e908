/**
 * The `queues:` configuration: defaults filled in, errors naming the key, duplicate names and
 * cluster mode refused.
 */
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, resolveConfig } from '../../src/config/index.js';
import { createBroker } from '../../src/index.js';
import { makeTempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function file(text: string): Promise<string> {
  const dir = await makeTempDir('midge-queue-config-');
  dirs.push(dir);
  const p = path.join(dir, 'midge.yaml');
  writeFileSync(p, text);
  return p;
}

describe('queues configuration', () => {
  it('fills in the bounds, overflow, deliveries, dispatch and dead-letter defaults', async () => {
    const config = resolveConfig(loadConfigFile(await file('queues:\n  - { name: jobs, topics: ["jobs/#"] }\n')));
    expect(config.queues).toEqual([
      {
        name: 'jobs',
        topics: ['jobs/#'],
        maxMessages: 1_000_000,
        maxBytes: 1024 ** 3,
        overflow: 'drop-oldest',
        maxDeliveries: 5,
        storeQos0: false,
        dispatch: 'round-robin',
        deadLetterTopic: '$dlq/jobs',
        ackWaitSeconds: 30,
      },
    ]);
    expect(resolveConfig({}).queues).toEqual([]);
  });

  it.each([
    ['queues:\n  - { name: jobs, topics: [] }\n', 'queues[0].topics'],
    ['queues:\n  - { name: "a/b", topics: [x] }\n', 'queues[0].name'],
    ['queues:\n  - { name: jobs, topics: [x], overflow: drop-middle }\n', 'queues[0].overflow'],
    ['queues:\n  - { name: jobs, topics: [x], dispatch: random }\n', 'queues[0].dispatch'],
    ['queues:\n  - { name: jobs, topics: [x], maxDeliveries: 0 }\n', 'queues[0].maxDeliveries'],
    ['queues:\n  - { name: jobs, topics: [x], deadLetterTopic: dead/jobs }\n', 'queues[0].deadLetterTopic'],
    ['queues:\n  - { name: jobs, topics: [x], maxMesages: 5 }\n', 'queues[0].maxMesages: unknown key'],
    ['queues:\n  - { name: jobs, topics: [x] }\n  - { name: jobs, topics: [y] }\n', 'queues[1].name'],
  ])('rejects %j naming %s', async (text, key) => {
    const p = await file(text);
    expect(() => resolveConfig(loadConfigFile(p))).toThrow(key);
  });

  it('is accepted in cluster mode (the queue lives in the engine: test/queues/cluster-queues.test.ts)', () => {
    expect(() => createBroker({ port: 0, cluster: { nodeId: 'n1' }, queues: [{ name: 'jobs', topics: ['jobs/#'] }] })).not.toThrow();
  });

  it('ackWaitSeconds is bounded', async () => {
    const p = await file('queues:\n  - { name: jobs, topics: [x], ackWaitSeconds: 0 }\n');
    expect(() => resolveConfig(loadConfigFile(p))).toThrow('queues[0].ackWaitSeconds');
  });
});
