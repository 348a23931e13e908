/**
 * A damaged store: a corrupted log, a truncated MANIFEST, a corrupted table file, a record of an
 * unknown version. The broker must refuse to start with one line naming the file and what to do
 * (never start with sessions silently missing); `midge store check` must show the damage and
 * `midge store repair` must get the store back to one the broker starts from, listing what it
 * dropped. A log cut at its end is what a crash mid-write leaves: that one starts.
 */
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelStore, type StoreOp } from '../../src/store/index.js';
import { checkLogFormat, crc32c } from '../../src/store/leveldb-files.js';
import { encodeSubscription } from '../../src/store/codec.js';
import { runCli, spawnBroker } from '../helpers/process.js';
import { makeTempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function sessionOps(clientId: string, deliveries: number): StoreOp[] {
  const ops: StoreOp[] = [
    { type: 'putSession', session: { clientId, protocolVersion: 4, expiryInterval: 0xffffffff, disconnectedAt: Date.now() } },
    { type: 'putSubscription', clientId, subscription: { filter: `dev/${clientId}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 } },
  ];
  for (let seq = 1; seq <= deliveries; seq++) {
    const message = { topic: `dev/${clientId}/t`, payload: Buffer.from(`reading ${seq} of ${clientId} `.repeat(8)), qos: 1 as const, retain: false };
    ops.push({ type: 'putOutgoing', clientId, record: { seq, message, qos: 1, retain: false, state: 'queued' } });
  }
  return ops;
}

/**
 * A data dir whose store has sessions s1–s5 in a table file (LevelDB turns its log into a table
 * when it reopens) and s6–s8 still in the log.
 */
async function makeDataDir(): Promise<{ dataDir: string; location: string; file: (pattern: RegExp) => string }> {
  const dataDir = await makeTempDir('midge-damaged-');
  dirs.push(dataDir);
  const location = path.join(dataDir, 'store');
  let store = new LevelStore(location);
  await store.open();
  for (let i = 1; i <= 5; i++) await store.write(sessionOps(`s${i}`, 40));
  await store.write([{ type: 'putRetained', message: { topic: 'status/gw', payload: Buffer.from('up'), qos: 1, retain: true } }]);
  await store.close();
  store = new LevelStore(location);
  await store.open();
  for (let i = 6; i <= 8; i++) await store.write(sessionOps(`s${i}`, 10));
  await store.close();
  const file = (pattern: RegExp): string => {
    const name = readdirSync(location).find((n) => pattern.test(n));
    if (!name) throw new Error(`no file like ${pattern} in ${readdirSync(location).join(' ')}`);
    return path.join(location, name);
  };
  return { dataDir, location, file };
}

const SOUND_COUNTS = '8 sessions, 8 subscriptions, 230 queued deliveries, 0 QoS 2 ids awaiting PUBREL, 1 retained messages';

function flipByteAt(file: string, offset: number): void {
  const data = readFileSync(file);
  data[offset]! ^= 0xff;
  writeFileSync(file, data);
}

/** Starts the broker on the data dir; resolves with the number of sessions it recovered, then stops it. */
async function startedSessions(dataDir: string): Promise<number> {
  const broker = await spawnBroker(['--port', '0', '--data-dir', dataDir, '--log-level', 'info'], 60_000);
  broker.child.kill('SIGKILL');
  await broker.exited;
  const recovered = broker.logs.find((l) => l.msg === 'recovered state from the store');
  return Number(recovered?.sessions ?? 0);
}

/** The broker refuses to start: exit 1 and exactly one line on stderr. */
async function refusedStart(dataDir: string): Promise<string> {
  const result = await runCli(['--port', '0', '--data-dir', dataDir], 60_000);
  expect(result.code).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`midge store repair --data-dir ${dataDir}`);
  return lines[0]!;
}

describe('LevelDB file checks', () => {
  it('computes CRC-32C as LevelDB does', () => {
    // The check value of CRC-32C (RFC 3720, appendix B.4).
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('accepts a log cut inside its last record (a crash mid-write) and flags one damaged in the middle', () => {
    const header = Buffer.alloc(7);
    const payload = Buffer.from('a record');
    const record = (): Buffer => {
      const typed = Buffer.concat([Buffer.from([1]), payload]);
      const crc = crc32c(typed);
      const masked = (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
      header.writeUInt32LE(masked, 0);
      header.writeUInt16LE(payload.length, 4);
      header[6] = 1;
      return Buffer.concat([header, payload]);
    };
    const log = Buffer.concat([record(), record(), record()]);
    expect(checkLogFormat(log)).toEqual({ records: 3 });
    expect(checkLogFormat(log.subarray(0, log.length - 3))).toEqual({ records: 2 });
    const damaged = Buffer.from(log);
    damaged[23]! ^= 1;
    expect(checkLogFormat(damaged).damage).toMatch(/checksum mismatch at byte 15/);
    // A damaged length looks like a cut record, but sound records follow it.
    const badLength = Buffer.from(log);
    badLength[20]! ^= 1;
    expect(checkLogFormat(badLength).damage).toMatch(/bad record length at byte 15/);
  });
});

describe('a damaged store', () => {
  it('a sound store checks clean and starts with every session', async () => {
    const { dataDir } = await makeDataDir();
    const check = await runCli(['store', 'check', '--data-dir', dataDir], 60_000);
    expect(check.stdout).toContain(SOUND_COUNTS);
    expect(check.stdout).toContain('store is sound');
    expect(check.code).toBe(0);
    expect(await startedSessions(dataDir)).toBe(8);
  });

  it('a corrupted log: refused with the file named; repair keeps what is readable', async () => {
    const { dataDir, file } = await makeDataDir();
    const log = file(/^\d+\.log$/);
    flipByteAt(log, 200);
    const line = await refusedStart(dataDir);
    expect(line).toContain(`store damaged: ${log}: checksum mismatch`);

    const check = await runCli(['store', 'check', '--data-dir', dataDir], 60_000);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`damaged file: ${log}: checksum mismatch`);
    expect(check.stdout).toContain('store is DAMAGED');

    const repair = await runCli(['store', 'repair', '--data-dir', dataDir], 60_000);
    expect(repair.stdout).toContain(`damaged file: ${log}`);
    expect(repair.stdout).toMatch(new RegExp(`cut ${log} back to byte \\d+: the damaged write and everything after it`));
    expect(repair.stdout).toContain('store is sound');
    expect(repair.code).toBe(0);
    // The store as it was before the damaged write: s1–s5 (in the table) complete, s6 (the first
    // write in the log, where byte 200 lies) and what came after it gone.
    expect(repair.stdout).toContain('5 sessions, 5 subscriptions, 200 queued deliveries');
    expect(await startedSessions(dataDir)).toBe(5);
  });

  it('a log cut at its end (a crash during a write) starts, with what it holds', async () => {
    const { dataDir, file } = await makeDataDir();
    const log = file(/^\d+\.log$/);
    const size = readFileSync(log).length;
    truncateSync(log, size - 10);
    // The cut record is s8's whole write batch (one batch, one log record): all or nothing, so
    // s8 is not there and s1–s7 are, complete.
    expect(await startedSessions(dataDir)).toBe(7);
    const check = await runCli(['store', 'check', '--data-dir', dataDir], 60_000);
    expect(check.stdout).toContain('7 sessions, 7 subscriptions, 220 queued deliveries');
    expect(check.code).toBe(0);
  });

  it('a table file the MANIFEST does not list (cut by a kill during a compaction) is a leftover: the broker starts', async () => {
    const { dataDir, location, file } = await makeDataDir();
    // What a SIGKILL half-way through writing a compaction output leaves (found by npm run soak).
    writeFileSync(path.join(location, '999999.ldb'), readFileSync(file(/^\d+\.ldb$/)).subarray(0, 700));
    expect(await startedSessions(dataDir)).toBe(8);
  });

  it('a truncated MANIFEST: refused with the file named; repair rebuilds it from the tables and the log', async () => {
    const { dataDir, location } = await makeDataDir();
    const manifest = path.join(location, readFileSync(path.join(location, 'CURRENT'), 'utf8').trim());
    truncateSync(manifest, 5);
    const line = await refusedStart(dataDir);
    expect(line).toContain(`store damaged: ${manifest}: truncated`);
    const repair = await runCli(['store', 'repair', '--data-dir', dataDir], 60_000);
    expect(repair.stdout).toContain('store is sound');
    expect(repair.code).toBe(0);
    expect(await startedSessions(dataDir)).toBe(8);
  });

  it('a corrupted table file: refused with the file named; repair drops the damaged block and says so', async () => {
    const { dataDir, file } = await makeDataDir();
    const table = file(/^\d+\.ldb$/);
    flipByteAt(table, 1000);
    const line = await refusedStart(dataDir);
    expect(line).toContain(`store damaged: ${table}: data block at byte`);
    const repair = await runCli(['store', 'repair', '--data-dir', dataDir], 60_000);
    expect(repair.stdout).toContain(`damaged file: ${table}`);
    expect(repair.stdout).toContain('store is sound');
    expect(repair.code).toBe(0);
    const sessions = await startedSessions(dataDir);
    expect(sessions).toBeGreaterThanOrEqual(3);
    expect(sessions).toBeLessThanOrEqual(8);
  });

  it('a record of an unknown version: refused with the key named; repair drops exactly it and the orphans', async () => {
    const { dataDir, location } = await makeDataDir();
    const db = new Level<string, Buffer>(location, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await db.put('s\u0000from-the-future', Buffer.from([9, 0, 0, 0, 2, 0x7b, 0x7d]));
    await db.put('u\u0000ghost\u0000a/#', encodeSubscription({ filter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }));
    await db.close();
    const line = await refusedStart(dataDir);
    expect(line).toContain('corrupt store record "s/from-the-future": unknown record version 9');

    const check = await runCli(['store', 'check', '--data-dir', dataDir], 60_000);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('found unreadable record s/from-the-future: unknown record version 9');
    expect(check.stdout).toContain('found orphan record u/ghost/a/#: its session "ghost" does not exist');

    const repair = await runCli(['store', 'repair', '--data-dir', dataDir], 60_000);
    expect(repair.stdout).not.toContain('LevelDB repair ran');
    expect(repair.stdout).toContain('dropped unreadable record s/from-the-future: unknown record version 9');
    expect(repair.stdout).toContain('dropped 1 unreadable and 1 orphaned records');
    expect(repair.stdout).toContain('8 sessions');
    expect(repair.code).toBe(0);
    expect(await startedSessions(dataDir)).toBe(8);
  });
});
