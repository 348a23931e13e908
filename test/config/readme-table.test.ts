/**
 * README's configuration reference against the schema it documents (src/config/schema.ts): every
 * key in the schema has a row, every row names a real key, the defaults agree, and a row's meaning
 * is the key's `.describe()` text. The limits have their own table ("Limits, and what happens at
 * them"), whose rows are checked for keys and defaults (its third column says what happens at the
 * bound, which is more than a description).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_USER_STORE_ITERATIONS } from '../../src/auth/user-store.js';
import { configSchema, USAGE } from '../../src/config/index.js';
import { ROOT } from '../helpers/process.js';

/** Rows that describe something other than one key, and why. */
const NOT_KEY_ROWS: Record<string, string> = {
  '(file)': 'the --config flag names a file; it is no key of the file',
  'jwt entry keys': 'the keys of one member of the auth.chain union, listed in one row',
  'http entry keys': 'the keys of one member of the auth.chain union, listed in one row',
};

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable']);
function unwrap(schema: z.ZodType): z.ZodType {
  let inner = schema;
  for (;;) {
    const def = inner._zod.def as unknown as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    if (WRAPPERS.has(def.type)) inner = def.innerType!;
    else if (def.type === 'pipe') inner = def.in!; // a transform (listeners' port by type)
    else return inner;
  }
}

/** Every key down through nested sections; lists, records and unions are keys themselves. */
function schemaKeys(schema: z.ZodObject, prefix = ''): Map<string, z.ZodType> {
  const keys = new Map<string, z.ZodType>();
  for (const [name, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const inner = unwrap(field);
    if (inner instanceof z.ZodObject) for (const [k, v] of schemaKeys(inner, `${prefix}${name}.`)) keys.set(k, v);
    else keys.set(`${prefix}${name}`, field);
  }
  return keys;
}

/** `listeners[0].host` → ['listeners', 0, 'host']; `auth.chains.<name>` → ['auth', 'chains', '<name>']. */
const segments = (key: string): Array<string | number> => [...key.matchAll(/\[(\d+)\]|([^.[\]]+)/g)].map((m) => (m[1] !== undefined ? Number(m[1]) : m[2]!));

/** The field schema a row's key names, or undefined when there is no such key. */
function resolveKey(key: string): z.ZodType | undefined {
  let current: z.ZodType = configSchema;
  for (const segment of segments(key)) {
    const inner = unwrap(current);
    if (typeof segment === 'number') {
      if (!(inner instanceof z.ZodArray)) return undefined;
      current = inner.element as z.ZodType;
    } else if (segment.startsWith('<')) {
      if (!(inner instanceof z.ZodRecord)) return undefined;
      current = inner.valueType as z.ZodType;
    } else {
      if (!(inner instanceof z.ZodObject) || !Object.hasOwn(inner.shape, segment)) return undefined;
      current = (inner.shape as Record<string, z.ZodType>)[segment]!;
    }
  }
  return current;
}

const DEFAULTS: unknown = configSchema.parse({});
const NO_DEFAULT = Symbol('no default');

/** The value a key has when nobody sets it: read from the defaults, or from its own schema inside a section that is off by default. */
function defaultOf(key: string): unknown {
  let value: unknown = DEFAULTS;
  for (const segment of segments(key)) {
    if (value === null || value === undefined || typeof value !== 'object') {
      value = undefined;
      break;
    }
    value = (value as Record<string | number, unknown>)[segment];
  }
  if (value !== undefined) return value;
  const parsed = resolveKey(key)!.safeParse(undefined);
  return parsed.success && parsed.data !== undefined ? parsed.data : NO_DEFAULT;
}

interface Row {
  keys: string[];
  cells: string[];
}

/** The rows of the first table after `heading`, cells split at unescaped pipes. */
function tableRows(readme: string, heading: string): string[][] {
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start, `README has a section ${heading}`).toBeGreaterThan(-1);
  const lines = readme.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replaceAll('\\|', '|')));
  }
  return rows;
}

/** `` `a` / `.b` `` → ['x.a', 'x.b']: a part starting with '.' is a sibling of the previous key. */
function rowKeys(cell: string, prefix = ''): string[] {
  const keys: string[] = [];
  for (const part of cell.split(' / ')) {
    const name = /^`([^`]+)`$/.exec(part.trim())?.[1];
    if (name === undefined) return [];
    keys.push(name.startsWith('.') ? keys[keys.length - 1]!.replace(/\.[^.]+$/, '') + name : `${prefix}${name}`);
  }
  return keys;
}

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const mainRows: Row[] = tableRows(README, '### Configuration reference')
  .filter((cells) => !Object.hasOwn(NOT_KEY_ROWS, cells[0]!))
  .map((cells) => ({ keys: rowKeys(cells[0]!), cells }));
const limitRows: Row[] = tableRows(README, '## Limits, and what happens at them').map((cells) => ({ keys: rowKeys(cells[0]!, 'limits.'), cells }));
const KEYS = schemaKeys(configSchema);

/** A limits-table default: `1 MiB`, `16 KiB`, `4096 bytes`, `0 = off`, `100000`. */
function limitValue(text: string): number {
  const match = /^(\d+)(?: (KiB|MiB|bytes))?$|^(0) = off$/.exec(text.trim());
  if (!match) throw new Error(`not a limit default: ${text}`);
  if (match[3]) return 0;
  return Number(match[1]) * (match[2] === 'KiB' ? 1024 : match[2] === 'MiB' ? 1024 * 1024 : 1);
}

describe('README configuration reference', () => {
  it('parses: both tables have rows, each naming keys', () => {
    expect(mainRows.length).toBeGreaterThan(20);
    expect(limitRows.length).toBeGreaterThan(15);
    for (const row of [...mainRows, ...limitRows]) expect(row.keys, `a row names its key(s) in backticks: ${row.cells[0]}`).not.toEqual([]);
  });

  it('every row names a real key', () => {
    const unknown = [...mainRows, ...limitRows].flatMap((row) => row.keys).filter((key) => !key.endsWith('.*') && resolveKey(key) === undefined);
    expect(unknown).toEqual([]);
  });

  it('every key in the schema has a row, and a description', () => {
    const documented = [...mainRows, ...limitRows].flatMap((row) => row.keys);
    const covers = (key: string): boolean =>
      documented.some((d) => d === key || d.startsWith(`${key}.`) || d.startsWith(`${key}[`) || (d.endsWith('.*') && key.startsWith(d.slice(0, -1)) && limitRows.some((r) => r.keys.includes(key))));
    expect([...KEYS.keys()].filter((key) => !covers(key))).toEqual([]);
    expect([...KEYS].filter(([, schema]) => !schema.description).map(([key]) => key)).toEqual([]);
  });

  it('a row’s meaning is its key’s description', () => {
    const mismatched = mainRows
      .filter((row) => row.keys.length === 1 && /^[A-Za-z.]+$/.test(row.keys[0]!))
      .map((row) => ({ key: row.keys[0]!, readme: row.cells[3], schema: resolveKey(row.keys[0]!)!.description }))
      .filter((m) => m.readme !== m.schema);
    expect(mismatched).toEqual([]);
  });

  it('the defaults agree', () => {
    const disagreements: string[] = [];
    for (const row of mainRows) {
      if (row.keys.some((key) => key.endsWith('.*'))) continue; // `limits.*`: see the limits table
      const parts = row.cells[2]!.split(' / ');
      row.keys.forEach((key, i) => {
        const cell = (parts.length === row.keys.length ? parts[i]! : row.cells[2]!).trim();
        const expected = defaultOf(key);
        const literal = /^`([^`]+)`$/.exec(cell)?.[1];
        // `—` and prose both say the schema has none (prose: chosen at run time, as noMatch per listener).
        const ok = literal !== undefined ? JSON.stringify(parseYaml(literal)) === JSON.stringify(expected) : expected === NO_DEFAULT;
        if (!ok) disagreements.push(`${key}: README ${cell}, schema ${expected === NO_DEFAULT ? '(none)' : JSON.stringify(expected)}`);
      });
    }
    for (const row of limitRows) {
      const parts = row.cells[1]!.split(' / ');
      row.keys.forEach((key, i) => {
        const cell = parts.length === row.keys.length ? parts[i]! : row.cells[1]!;
        if (limitValue(cell) !== defaultOf(key)) disagreements.push(`${key}: README ${cell}, schema ${String(defaultOf(key))}`);
      });
    }
    expect(disagreements).toEqual([]);
  });

  it('every flag in the table is one the command takes', () => {
    const flags = mainRows.flatMap((row) => [...row.cells[1]!.matchAll(/--[a-z-]+/g)].map((m) => m[0]));
    expect(flags.length).toBeGreaterThan(5);
    expect(flags.filter((flag) => !USAGE.includes(`${flag} `))).toEqual([]);
  });

  it('auth.users.iterations defaults to what the user store uses when it is left out', () => {
    expect(defaultOf('auth.users.iterations')).toBe(DEFAULT_USER_STORE_ITERATIONS);
  });
});
