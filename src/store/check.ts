/**
 * `midge store check` / `midge store repair` underneath: LevelDB's files checked by Midge itself
 * (leveldb-files.ts), then every record decoded as the broker would read it. Repair runs LevelDB's
 * own repair (RepairDB, which salvages what is readable and moves damaged files to `lost/`), then
 * drops the records Midge cannot read or never reaches, and reports each one it dropped.
 */
import { readFile, truncate } from 'node:fs/promises';
import { Level } from 'level';
import { checkLevelFiles, checkLogFormat, type FileDamage } from './leveldb-files.js';
import { CorruptRecordError, decodeJson, decodeMessage, decodeOutgoing, decodeSession, decodeSubscription, KeyPrefix, prefixRange } from './codec.js';

const SEP = '\u0000';

export interface DroppedRecord {
  /** The key, its NUL separators shown as "/". */
  key: string;
  why: string;
}

export interface StoreCheckReport {
  location: string;
  fileDamage: FileDamage[];
  /** Records by kind (readable ones), when the records could be read. */
  counts?: { sessions: number; subscriptions: number; deliveries: number; qos2Ids: number; retained: number };
  /** Records the broker cannot read (corrupt, unknown version or kind). */
  unreadable: DroppedRecord[];
  /** Records of a session that does not exist: the broker never reads them. */
  orphans: DroppedRecord[];
  /** LevelDB itself failed while reading (a damaged table LevelDB could not get past). */
  readError?: string;
}

export function isStoreSound(report: StoreCheckReport): boolean {
  return report.fileDamage.length === 0 && report.unreadable.length === 0 && report.orphans.length === 0 && report.readError === undefined;
}

function shown(key: string): string {
  return key.replaceAll(SEP, '/');
}

/** Which session a key belongs to (undefined for retained messages and unknown keys). */
function ownerOf(key: string): string | undefined {
  const end = key.indexOf(SEP, 2);
  return end < 0 ? key.slice(2) : key.slice(2, end);
}

/** Decodes one record as the broker would; throws CorruptRecordError when it cannot. */
function validate(key: string, value: Buffer): keyof NonNullable<StoreCheckReport['counts']> {
  if (key[1] !== SEP) throw new CorruptRecordError(key, 'not a Midge key');
  switch (key[0]) {
    case KeyPrefix.session: {
      const session = decodeSession(key, value);
      if (session.clientId !== key.slice(2)) throw new CorruptRecordError(key, `holds the session of ${JSON.stringify(session.clientId)}`);
      return 'sessions';
    }
    case KeyPrefix.subscription:
      decodeSubscription(key, value);
      return 'subscriptions';
    case KeyPrefix.outgoing:
      decodeOutgoing(key, value);
      return 'deliveries';
    case KeyPrefix.incomingQos2:
      decodeJson<number>(key, value);
      return 'qos2Ids';
    case KeyPrefix.retained:
      decodeMessage(key, value);
      return 'retained';
    default:
      throw new CorruptRecordError(key, `unknown record kind ${JSON.stringify(key[0])}`);
  }
}

async function openExisting(location: string): Promise<Level<string, Buffer>> {
  const db = new Level<string, Buffer>(location, { keyEncoding: 'utf8', valueEncoding: 'buffer', createIfMissing: false });
  try {
    await db.open();
  } catch (error) {
    const codes = JSON.stringify(error, ['code', 'cause']) + String((error as { cause?: unknown }).cause);
    if (codes.includes('LEVEL_LOCKED')) throw new Error(`store ${location} is in use: stop the broker first`);
    throw new Error(`cannot open the store at ${location}: ${String((error as { cause?: Error }).cause?.message ?? (error as Error).message)}`);
  }
  return db;
}

/** Reads every record; with `shouldDrop`, deletes the unreadable and orphaned ones. */
async function scanRecords(location: string, report: StoreCheckReport, shouldDrop: boolean): Promise<void> {
  const db = await openExisting(location);
  try {
    const sessions = new Set<string>();
    const counts = { sessions: 0, subscriptions: 0, deliveries: 0, qos2Ids: 0, retained: 0 };
    try {
      for await (const [key, value] of db.iterator(prefixRange(KeyPrefix.session))) {
        try {
          validate(key, value);
          sessions.add(key.slice(2));
        } catch {
          // reported by the full pass below
        }
      }
      const toDelete: string[] = [];
      for await (const [key, value] of db.iterator()) {
        try {
          const kind = validate(key, value);
          const owner = ownerOf(key);
          if (kind !== 'retained' && kind !== 'sessions' && owner !== undefined && !sessions.has(owner)) {
            report.orphans.push({ key: shown(key), why: `its session ${JSON.stringify(owner)} does not exist` });
            toDelete.push(key);
            continue;
          }
          counts[kind]++;
        } catch (error) {
          if (!(error instanceof CorruptRecordError)) throw error;
          report.unreadable.push({ key: shown(key), why: error.message.replace(/^corrupt store record "[^"]*": /, '') });
          toDelete.push(key);
        }
      }
      report.counts = counts;
      if (shouldDrop && toDelete.length > 0) await db.batch(toDelete.map((key) => ({ type: 'del' as const, key })), { sync: true });
    } catch (error) {
      report.readError = (error as { cause?: Error }).cause?.message ?? (error as Error).message;
    }
  } finally {
    await db.close();
  }
}

/**
 * Checks without changing anything LevelDB would not change on its own: when the files are
 * damaged, the records are not read (opening would let LevelDB drop the damaged part silently).
 */
export async function checkStore(location: string): Promise<StoreCheckReport> {
  const report: StoreCheckReport = { location, fileDamage: await checkLevelFiles(location), unreadable: [], orphans: [] };
  if (report.fileDamage.length === 0) await scanRecords(location, report, false);
  return report;
}

export interface TruncatedLog {
  file: string;
  /** Where the damaged record started: the log now ends there. */
  at: number;
  droppedBytes: number;
  /** Complete write batches before the damage, kept. */
  keptWrites: number;
}

export interface RepairReport {
  before: StoreCheckReport;
  /** Damaged logs cut back to their last sound write (the store as it was just before it). */
  truncatedLogs: TruncatedLog[];
  /** Whether LevelDB's repair ran (it does when files were damaged). */
  usedLevelRepair: boolean;
  after: StoreCheckReport;
}

/** Repairs the store: LevelDB's repair for damaged files, then drops what the broker cannot read. */
export async function repairStore(location: string): Promise<RepairReport> {
  const before: StoreCheckReport = { location, fileDamage: await checkLevelFiles(location), unreadable: [], orphans: [] };
  // LevelDB's repair reads logs without checksums (a damaged record would come back with the
  // damage inside), so a damaged log is first cut back to its last sound write: what remains is
  // the store as it was just before the damaged write, consistent, and LevelDB opens it as is.
  const truncatedLogs: TruncatedLog[] = [];
  for (const damage of before.fileDamage) {
    if (!damage.file.endsWith('.log')) continue;
    const data = await readFile(damage.file);
    const result = checkLogFormat(data);
    if (result.damageAt === undefined) continue;
    await truncate(damage.file, result.damageAt);
    truncatedLogs.push({ file: damage.file, at: result.damageAt, droppedBytes: data.length - result.damageAt, keptWrites: result.records });
  }
  let usedLevelRepair = false;
  const repair = (Level as unknown as { repair?: (location: string) => Promise<void> }).repair;
  if ((await checkLevelFiles(location)).length > 0) {
    if (typeof repair !== 'function') throw new Error('this build of level has no repair(); restore the store from a backup');
    await repair.call(Level, location);
    usedLevelRepair = true;
  }
  const dropped: StoreCheckReport = { location, fileDamage: [], unreadable: [], orphans: [] };
  await scanRecords(location, dropped, true);
  before.unreadable = dropped.unreadable;
  before.orphans = dropped.orphans;
  before.readError = dropped.readError;
  const after = await checkStore(location);
  return { before, truncatedLogs, usedLevelRepair, after };
}
