/**
 * Every spec id a test or a src/ comment cites names its version and exists in that version:
 * `[3.1.1 MQTT-3.1.2-24]` or `[5.0 MQTT-3.1.2-24]`. The version is not decoration: most ids exist in both statement lists
 * with different meanings (3.1.1's MQTT-3.1.2-24 is the keep-alive rule, 5.0's is Maximum Packet
 * Size), so an untagged id cannot be checked and a tag on the wrong version cites another rule.
 * The statement lists are ../shared/spec/*.tsv beside the repository (SPEC_DIR overrides it);
 * without them the test is skipped, and its name says where it looked.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.js';

const SPEC_DIR = process.env.SPEC_DIR ? path.resolve(process.env.SPEC_DIR) : path.resolve(ROOT, '../shared/spec');
const LISTS = { '3.1.1': 'mqtt-3.1.1-statements.tsv', '5.0': 'mqtt-5.0-statements.tsv' } as const;
type Version = keyof typeof LISTS;
const hasLists = Object.values(LISTS).every((file) => existsSync(path.join(SPEC_DIR, file)));

/** Anything that looks like a spec id, tagged or not, so that an untagged one is seen too. */
const ANY_ID = /MQTT-[\d.]*[\d?*]+(?:-[\w?*]+)?/g;
/** The one accepted form, anchored at the id: `[<version> ` before it and `]` right after it. */
const TAGGED = /\[(3\.1\.1|5\.0) (MQTT-\d+(?:\.\d+)*-\d+)\]$/;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'node_modules') return [];
    return statSync(full).isDirectory() ? sources(full) : /\.(ts|tsx|md)$/.test(name) ? [full] : [];
  });
}

function knownIds(version: Version): Set<string> {
  const lines = readFileSync(path.join(SPEC_DIR, LISTS[version]), 'utf8').split('\n').slice(1);
  return new Set(lines.filter((l) => l.trim() !== '').map((l) => l.split('\t')[0]!));
}

interface Citation {
  where: string;
  text: string;
  version?: Version;
  id?: string;
}

/** Every id-looking string in test/ or src/ (this file's own examples and the coverage script's excluded). */
function citations(dir: 'test' | 'src'): Citation[] {
  const skip = new Set([fileURLToPath(import.meta.url), path.join(ROOT, 'test/spec/coverage.ts')]);
  const found: Citation[] = [];
  for (const file of sources(path.join(ROOT, dir))) {
    if (skip.has(file)) continue;
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, index) => {
      for (const match of line.matchAll(ANY_ID)) {
        const end = match.index + match[0].length;
        const around = line.slice(Math.max(0, match.index - 7), end + 1);
        const tagged = TAGGED.exec(around);
        const where = `${path.relative(ROOT, file)}:${index + 1}`;
        found.push(tagged ? { where, text: tagged[0], version: tagged[1] as Version, id: tagged[2]! } : { where, text: line.slice(Math.max(0, match.index - 10), end + 2).trim() });
      }
    });
  }
  return found;
}

// src/ cites fewer ids than test/ (comments say why code does what it does), so its floor is lower.
describe.each([
  { dir: 'test' as const, least: 100 },
  { dir: 'src' as const, least: 50 },
])('spec ids cited in $dir/', ({ dir, least }) => {
  const all = citations(dir);

  it('finds the citations at all (guards against a pattern that matches nothing)', () => {
    expect(all.filter((c) => c.version === '3.1.1').length).toBeGreaterThan(least);
    expect(all.filter((c) => c.version === '5.0').length).toBeGreaterThan(least);
  });

  it('every cited id is tagged with its version, as [3.1.1 MQTT-x-y] or [5.0 MQTT-x-y]', () => {
    expect(all.filter((c) => !c.version).map((c) => `${c.where}: ${c.text}`)).toEqual([]);
  });

  it.skipIf(!hasLists)(
    hasLists ? 'every cited id exists in the statement list of its version' : `every cited id exists in its version: skipped, no ${Object.values(LISTS).join(' and ')} in ${SPEC_DIR} (set SPEC_DIR)`,
    () => {
      const known = { '3.1.1': knownIds('3.1.1'), '5.0': knownIds('5.0') };
      const unknown = all.filter((c) => c.version && !known[c.version].has(c.id!)).map((c) => `${c.where}: ${c.text}`);
      expect(unknown).toEqual([]);
    },
  );
});
