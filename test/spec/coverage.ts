/**
 * `npm run spec-coverage`: which server-side normative statements of MQTT 3.1.1 and 5.0 (the
 * statement lists in ../shared/spec/*.tsv, applies_to `server` or `both`) are cited by a test, as
 * `[3.1.1 MQTT-x-y]` or `[5.0 MQTT-x-y]` in a test file under test/, or explained in
 * test/spec/not-observable.md (a line `- [5.0 MQTT-x-y] why it cannot be observed from outside`).
 * Prints the coverage per version and every statement neither cited nor explained; exits 1 when
 * there is one, or when a citation names an id the version does not have (a typo or the wrong
 * version — the same id means different things in 3.1.1 and 5.0).
 */
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// CI has shared/ beside the repository clone; SPEC_DIR overrides it (e.g. from a git worktree elsewhere).
const SPEC_DIR = process.env.SPEC_DIR ? path.resolve(process.env.SPEC_DIR) : path.resolve(REPO, '../shared/spec');
const VERSIONS = [
  { tag: '3.1.1', file: 'mqtt-3.1.1-statements.tsv' },
  { tag: '5.0', file: 'mqtt-5.0-statements.tsv' },
] as const;
type Version = (typeof VERSIONS)[number]['tag'];

interface Statement {
  id: string;
  section: string;
  appliesTo: string;
  requirement: string;
}

function specDir(): string {
  if (VERSIONS.every((v) => existsSync(path.join(SPEC_DIR, v.file)))) return SPEC_DIR;
  console.error(
    `spec-coverage: the statement lists are missing: expected ${VERSIONS.map((v) => v.file).join(' and ')} in ${SPEC_DIR} ` +
      '(shared/spec beside the repository clone, or set SPEC_DIR)',
  );
  process.exit(2);
}

function readStatements(file: string): Statement[] {
  const [header, ...lines] = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (!header?.startsWith('id\t')) throw new Error(`${file}: unexpected header ${header}`);
  return lines.map((line) => {
    const [id, section, appliesTo, requirement] = line.split('\t');
    return { id: id!, section: section!, appliesTo: appliesTo!, requirement: requirement ?? '' };
  });
}

function testFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) files.push(...testFiles(full));
    else if (/\.ts$/.test(entry) && full !== fileURLToPath(import.meta.url)) files.push(full);
  }
  return files;
}

const CITATION = /\[(3\.1\.1|5\.0) (MQTT-\d+(?:\.\d+)*-\d+)\]/g;

function collect(text: string, into: Map<Version, Map<string, Set<string>>>, where: string): void {
  for (const match of text.matchAll(CITATION)) {
    const version = match[1] as Version;
    const id = match[2]!;
    const byId = into.get(version)!;
    if (!byId.has(id)) byId.set(id, new Set());
    byId.get(id)!.add(where);
  }
}

const dir = specDir();
const cited = new Map<Version, Map<string, Set<string>>>(VERSIONS.map((v) => [v.tag, new Map()]));
for (const file of testFiles(path.join(REPO, 'test'))) {
  if (!file.endsWith('.test.ts') && !file.includes(`${path.sep}helpers${path.sep}`)) continue;
  collect(readFileSync(file, 'utf8'), cited, path.relative(REPO, file));
}
const explained = new Map<Version, Map<string, Set<string>>>(VERSIONS.map((v) => [v.tag, new Map()]));
const notObservable = path.join(REPO, 'test/spec/not-observable.md');
if (existsSync(notObservable)) {
  for (const line of readFileSync(notObservable, 'utf8').split('\n')) {
    // Only list items count, only their leading id, and only with a reason after it.
    const item = /^\s*[-*] (\[(?:3\.1\.1|5\.0) MQTT-\d+(?:\.\d+)*-\d+\])(.*)$/.exec(line);
    if (item && item[2]!.trim().length > 10) collect(item[1]!, explained, 'not-observable.md');
  }
}

let isComplete = true;
const args = process.argv.slice(2);
const isVerbose = args.includes('--verbose');
for (const { tag, file } of VERSIONS) {
  const statements = readStatements(path.join(dir, file));
  const known = new Set(statements.map((s) => s.id));
  const serverSide = statements.filter((s) => s.appliesTo === 'server' || s.appliesTo === 'both');
  const byTest = serverSide.filter((s) => cited.get(tag)!.has(s.id));
  const byNote = serverSide.filter((s) => !cited.get(tag)!.has(s.id) && explained.get(tag)!.has(s.id));
  const missing = serverSide.filter((s) => !cited.get(tag)!.has(s.id) && !explained.get(tag)!.has(s.id));
  const unknown = [...cited.get(tag)!.keys(), ...explained.get(tag)!.keys()].filter((id) => !known.has(id));
  console.log(
    `MQTT ${tag}: ${serverSide.length} server-side statements; ${byTest.length} cited by tests, ${byNote.length} explained in not-observable.md, ` +
      `${missing.length} missing (${(((byTest.length + byNote.length) / serverSide.length) * 100).toFixed(0)}% covered)`,
  );
  for (const s of missing) console.log(`  missing [${tag} ${s.id}] (${s.appliesTo}) ${s.requirement}`);
  for (const id of new Set(unknown)) console.log(`  unknown id [${tag} ${id}] cited in ${[...(cited.get(tag)!.get(id) ?? explained.get(tag)!.get(id) ?? [])].join(', ')}`);
  if (isVerbose) for (const s of byTest) console.log(`  cited [${tag} ${s.id}] in ${[...cited.get(tag)!.get(s.id)!].join(', ')}`);
  if (missing.length > 0 || unknown.length > 0) isComplete = false;
}
process.exit(isComplete ? 0 : 1);
