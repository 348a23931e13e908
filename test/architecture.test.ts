/**
 * The import rules of the design: each module imports only the modules below it, and only
 * through their index.ts (no reaching into another module's files).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/process.js';

const SRC = path.join(ROOT, 'src');

/** Module → the modules it may import (design.md, "Modules"). Top-level files may import all. */
const ALLOWED: Record<string, string[]> = {
  topics: [],
  // Time and timers: a leaf, so every timer rule can take an injected clock.
  clock: [],
  protocol: ['topics'],
  store: ['topics', 'protocol'],
  session: ['store', 'topics', 'protocol'],
  // The broker also reads the typed config object it is given.
  broker: ['topics', 'protocol', 'store', 'session', 'auth', 'observability', 'config', 'clock'],
  auth: ['topics'],
  transport: ['broker'],
  config: [],
  observability: [],
  // A bridge is an in-process client: the broker's API, plus the session/store types of the
  // SessionLink it implements, the topic matcher for its rules and its own config type.
  bridge: ['broker', 'session', 'store', 'topics', 'config'],
  // The web UI runs in the browser: it talks to the admin API over HTTP, never to our modules.
  dashboard: [],
  // Cluster mode (design.md): the broker's public API, the store contract and codec it backs,
  // the topic trie of its route table, its config type and the logger type.
  cluster: ['broker', 'session', 'store', 'topics', 'config', 'observability'],
  // A connector is an in-process client too: the broker only through its ConnectorHost adapter
  // (host.ts), the session/store types of its SessionLink, its config, the logger type.
  connectors: ['broker', 'session', 'store', 'topics', 'config', 'observability'],
  // Durable queues: in-process like connectors — the broker's API (its QueueRouting hook), the
  // sessions they hand messages to, the store types, their config, the logger type.
  queues: ['broker', 'session', 'store', 'topics', 'config', 'observability'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : /\.tsx?$/.test(full) ? [full] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm;

/** Every src/ file → the src/ files it imports (`import type` and re-exports included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const targets: string[] = [];
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const specifier = match[1]!;
      if (!specifier.startsWith('.')) continue;
      targets.push(path.relative(SRC, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, '.ts'));
    }
    graph.set(path.relative(SRC, file), targets);
  }
  return graph;
}

/** One line per cycle found by a depth-first walk (each cycle reported once, from where it was entered). */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const cycles: string[] = [];
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (file: string): void => {
    const at = onPath.indexOf(file);
    if (at >= 0) {
      cycles.push([...onPath.slice(at), file].join(' → '));
      return;
    }
    if (done.has(file)) return;
    onPath.push(file);
    for (const target of graph.get(file) ?? []) visit(target);
    onPath.pop();
    done.add(file);
  };
  for (const file of [...graph.keys()].sort()) visit(file);
  return cycles;
}

describe('architecture', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const relative = path.relative(SRC, file);
    const [moduleName] = relative.split(path.sep);
    if (!moduleName || !(moduleName in ALLOWED)) continue; // top-level composition files
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1]!;
      if (!specifier.startsWith('.')) continue;
      const target = path.relative(SRC, path.resolve(path.dirname(file), specifier));
      const [targetModule, ...rest] = target.split(path.sep);
      if (targetModule === moduleName) continue;
      if (!ALLOWED[moduleName]!.includes(targetModule!)) violations.push(`${relative} imports ${target} (${moduleName} may not import ${targetModule})`);
      else if (rest.join('/') !== 'index.js') violations.push(`${relative} reaches into ${target} (use ${targetModule}/index.js)`);
    }
  }

  it('modules import only what the design allows, through index.ts', () => {
    expect(violations).toEqual([]);
  });

  it('no import cycle between src/ files, type imports included (a file-level graph)', () => {
    expect(importCycles(importGraph())).toEqual([]);
  });

  it('the cycle check finds a cycle when there is one', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(importCycles(graph)).toEqual(['a.ts → b.ts → c.ts → a.ts']);
  });

  it('the check sees imports at all (guards against a regex that matches nothing)', () => {
    const text = readFileSync(path.join(SRC, 'session/session.ts'), 'utf8');
    expect([...text.matchAll(IMPORT)].length).toBeGreaterThan(0);
  });
});
