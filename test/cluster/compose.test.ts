/**
 * docker/compose.cluster.yaml and docker/haproxy.cfg, checked by other means (no Docker engine
 * here): three JetStream servers routed to each other, three Midge nodes with distinct node ids
 * on all three servers, and HAProxy sending MQTT to exactly those nodes, health-checked on /ready.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resolveConfig, configFromEnv } from '../../src/config/index.js';
import { ROOT } from '../helpers/process.js';

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
}

const compose = parse(readFileSync(path.join(ROOT, 'docker/compose.cluster.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const haproxy = readFileSync(path.join(ROOT, 'docker/haproxy.cfg'), 'utf8');

describe('docker cluster compose file', () => {
  const nats = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('nats:'));
  const midge = Object.entries(compose.services).filter(([, s]) => s.environment?.MIDGE_CLUSTER__NODE_ID !== undefined);

  it('has three JetStream servers, each routed to the other two', () => {
    expect(nats.map(([name]) => name).sort()).toEqual(['nats1', 'nats2', 'nats3']);
    for (const [name, service] of nats) {
      expect(service.command).toContain('-js');
      const routes = service.command![service.command!.indexOf('--routes') + 1]!.split(',');
      expect(routes.sort()).toEqual(nats.filter(([n]) => n !== name).map(([n]) => `nats://${n}:6222`).sort());
    }
  });

  it('has three Midge nodes whose environment is a valid cluster config on those servers, with distinct node ids', () => {
    const ids = midge.map(([, s]) => s.environment!.MIDGE_CLUSTER__NODE_ID);
    expect(new Set(ids).size).toBe(3);
    for (const [, service] of midge) {
      const env = { ...service.environment!, MIDGE_HTTP__TOKEN: 'x'.repeat(32) };
      const config = resolveConfig(configFromEnv(env));
      expect(config.cluster!.replicas).toBe(3);
      expect(config.cluster!.servers).toEqual(nats.map(([n]) => `nats://${n}:4222`));
    }
  });

  it('HAProxy balances MQTT over exactly those nodes and checks /ready with the token', () => {
    const servers = [...haproxy.matchAll(/^\s*server \S+ (\S+):1883 check port 8888/gm)].map((m) => m[1]);
    expect(servers.sort()).toEqual(midge.map(([name]) => name).sort());
    expect(haproxy).toMatch(/uri \/ready hdr Authorization "Bearer \$\{MIDGE_HTTP__TOKEN\}"/);
    expect(haproxy).toMatch(/mode tcp/);
  });
});
