/** The `cluster` configuration key: schema, environment, --print-config. No engine needed. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv, resolveConfig } from '../../src/config/index.js';
import { CLI, ROOT } from '../helpers/process.js';

describe('cluster config', () => {
  it('is null (a single node) unless given, and fills in defaults when given', () => {
    expect(resolveConfig({}).cluster).toBeNull();
    const config = resolveConfig({ cluster: { nodeId: 'n1', servers: ['nats://127.0.0.1:4222'] } });
    expect(config.cluster).toEqual({ nodeId: 'n1', engine: 'nats', servers: ['nats://127.0.0.1:4222'], replicas: 3, ackTimeoutMs: 5000 });
  });

  it('refuses a cluster without a node id, a bad node id, a non-NATS engine or URL', () => {
    // @ts-expect-error the type requires nodeId too; this checks the run-time message
    expect(() => resolveConfig({ cluster: { servers: ['nats://127.0.0.1:4222'] } })).toThrow(/cluster\.nodeId/);
    expect(() => resolveConfig({ cluster: { nodeId: 'a.b' } })).toThrow(ConfigError);
    expect(() => resolveConfig({ cluster: { nodeId: 'n1', engine: 'redis' as 'nats' } })).toThrow(/cluster\.engine/);
    expect(() => resolveConfig({ cluster: { nodeId: 'n1', servers: ['http://x'] } })).toThrow(/cluster\.servers/);
  });

  it('reads MIDGE_CLUSTER__* from the environment', () => {
    const input = configFromEnv({ MIDGE_CLUSTER__NODE_ID: 'n2', MIDGE_CLUSTER__SERVERS: '["nats://127.0.0.1:4223"]', MIDGE_CLUSTER__REPLICAS: '1' });
    expect(input.cluster).toEqual({ nodeId: 'n2', servers: ['nats://127.0.0.1:4223'], replicas: 1 });
  });

  it('midge --print-config shows the cluster section', () => {
    const result = spawnSync(process.execPath, [CLI, '--print-config'], {
      cwd: ROOT,
      env: { ...process.env, MIDGE_CLUSTER__NODE_ID: 'n7', MIDGE_CLUSTER__SERVERS: '["nats://127.0.0.1:4222","nats://127.0.0.1:4223"]' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/cluster:\n\s+nodeId: n7\n\s+engine: nats\n\s+servers:\n\s+- nats:\/\/127\.0\.0\.1:4222\n\s+- nats:\/\/127\.0\.0\.1:4223\n\s+replicas: 3/);
    const single = spawnSync(process.execPath, [CLI, '--print-config'], { cwd: ROOT, encoding: 'utf8' });
    expect(single.stdout).toMatch(/cluster: null/);
  });
});
