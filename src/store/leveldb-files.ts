/**
 * Reads LevelDB's own files to find damage before LevelDB does: LevelDB (as `level` runs it, no
 * paranoid checks, no checksum verification on reads) silently drops a damaged part of a log when
 * it opens, and reads an unverified table block as whatever it holds — a store would start with
 * sessions quietly missing. Checked here: the log and MANIFEST record checksums (a log may end
 * inside a record: that is a crash mid-write, not damage), CURRENT, and every table's footer,
 * index and block checksums. Formats: leveldb/doc/log_format.md and table_format.md.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface FileDamage {
  /** The damaged file, as a path. */
  file: string;
  what: string;
}

/** Slicing-by-8 tables: eight bytes per step (the start-up check reads every table file). */
const CRC_TABLES = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) tables[k]![n] = (tables[k - 1]![n]! >>> 8) ^ tables[0]![tables[k - 1]![n]! & 0xff]!;
  }
  return tables;
})();

/** CRC-32C (Castagnoli), as LevelDB's crc32c::Value. */
export function crc32c(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = ~crc >>> 0;
  let i = 0;
  for (const end8 = data.length - 8; i <= end8; i += 8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c =
      t7[c & 0xff]! ^ t6[(c >>> 8) & 0xff]! ^ t5[(c >>> 16) & 0xff]! ^ t4[c >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** LevelDB stores checksums masked (crc32c::Unmask). */
function unmask(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

const LOG_BLOCK = 32768;
const LOG_HEADER = 7;

/**
 * Walks a log-format file (a .log or a MANIFEST). Returns the damage found (the first one; later
 * offsets cannot be trusted after it) and how many complete records precede it.
 */
export function checkLogFormat(data: Buffer, collect?: (record: Buffer) => void): { records: number; damage?: string; damageAt?: number } {
  let records = 0;
  let fragments: Buffer[] = [];
  for (let blockStart = 0; blockStart < data.length; blockStart += LOG_BLOCK) {
    const blockEnd = Math.min(blockStart + LOG_BLOCK, data.length);
    let offset = blockStart;
    while (blockEnd - offset >= LOG_HEADER) {
      const length = data.readUInt16LE(offset + 4);
      const type = data[offset + 6]!;
      // Zero type and length: space the writer preallocated (mmap); the rest of the block is empty.
      if (type === 0 && length === 0) break;
      if (offset + LOG_HEADER + length > blockEnd) {
        // A record cut by the end of the file is a crash during its write — unless a sound record
        // follows it: then its length is damaged (LevelDB would silently drop all after it).
        if (blockEnd === data.length && !hasSoundRecordAfter(data, offset + 1, blockEnd)) return { records };
        return { records, damage: `bad record length at byte ${offset}`, damageAt: offset };
      }
      if (type < 1 || type > 4) return { records, damage: `unknown record type ${type} at byte ${offset}`, damageAt: offset };
      const expected = unmask(data.readUInt32LE(offset));
      if (crc32c(data.subarray(offset + 6, offset + LOG_HEADER + length)) !== expected) {
        return { records, damage: `checksum mismatch at byte ${offset}`, damageAt: offset };
      }
      // FULL and LAST end a logical record.
      if (collect) {
        const payload = data.subarray(offset + LOG_HEADER, offset + LOG_HEADER + length);
        if (type === 1) collect(payload);
        else if (type === 2) fragments = [payload];
        else {
          fragments.push(payload);
          if (type === 4) collect(Buffer.concat(fragments));
        }
      }
      if (type === 1 || type === 4) records++;
      offset += LOG_HEADER + length;
    }
  }
  return { records };
}

/** Whether a record with a matching checksum starts anywhere in [from, end). */
function hasSoundRecordAfter(data: Buffer, from: number, end: number): boolean {
  for (let at = from; at + LOG_HEADER < end; at++) {
    const length = data.readUInt16LE(at + 4);
    const type = data[at + 6]!;
    if (type < 1 || type > 4 || length === 0 || at + LOG_HEADER + length > end) continue;
    if (crc32c(data.subarray(at + 6, at + LOG_HEADER + length)) === unmask(data.readUInt32LE(at))) return true;
  }
  return false;
}

function readVarint(data: Buffer, at: { offset: number }, limit: number): number {
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (at.offset >= limit) throw new Error('varint runs past its block');
    const byte = data[at.offset++]!;
    result += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return result;
    multiplier *= 128;
  }
  throw new Error('varint too long');
}

/** Snappy raw-format decompression (index blocks are compressed like any other). */
export function snappyDecompress(input: Buffer): Buffer {
  const at = { offset: 0 };
  const length = readVarint(input, at, input.length);
  const out = Buffer.alloc(length);
  let written = 0;
  while (at.offset < input.length) {
    const tag = input[at.offset++]!;
    let copyLength: number;
    let copyOffset: number;
    switch (tag & 3) {
      case 0: {
        let literal = tag >>> 2;
        if (literal >= 60) {
          const bytes = literal - 59;
          if (at.offset + bytes > input.length) throw new Error('snappy literal length runs past the input');
          literal = input.readUIntLE(at.offset, bytes);
          at.offset += bytes;
        }
        literal += 1;
        if (at.offset + literal > input.length || written + literal > length) throw new Error('snappy literal runs past its bounds');
        input.copy(out, written, at.offset, at.offset + literal);
        at.offset += literal;
        written += literal;
        continue;
      }
      case 1:
        copyLength = 4 + ((tag >>> 2) & 7);
        copyOffset = ((tag >>> 5) << 8) | input[at.offset++]!;
        break;
      case 2:
        copyLength = 1 + (tag >>> 2);
        copyOffset = input.readUInt16LE(at.offset);
        at.offset += 2;
        break;
      default:
        copyLength = 1 + (tag >>> 2);
        copyOffset = input.readUInt32LE(at.offset);
        at.offset += 4;
    }
    if (copyOffset === 0 || copyOffset > written || written + copyLength > length) throw new Error('snappy copy out of bounds');
    for (let i = 0; i < copyLength; i++, written++) out[written] = out[written - copyOffset]!;
  }
  if (written !== length) throw new Error('snappy output shorter than announced');
  return out;
}

const TABLE_MAGIC = Buffer.from([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
const FOOTER = 48;
const BLOCK_TRAILER = 5;

interface BlockHandle {
  offset: number;
  size: number;
}

/** A block's contents after its checksum is verified (decompressed when it was compressed). */
function readTableBlock(data: Buffer, handle: BlockHandle, name: string): Buffer {
  if (handle.offset + handle.size + BLOCK_TRAILER > data.length - FOOTER) throw new Error(`${name} block at byte ${handle.offset} runs past the end`);
  const contents = data.subarray(handle.offset, handle.offset + handle.size + 1);
  const expected = unmask(data.readUInt32LE(handle.offset + handle.size + 1));
  if (crc32c(contents) !== expected) throw new Error(`${name} block at byte ${handle.offset}: checksum mismatch`);
  const type = data[handle.offset + handle.size]!;
  const raw = data.subarray(handle.offset, handle.offset + handle.size);
  if (type === 0) return raw;
  if (type === 1) return snappyDecompress(raw);
  throw new Error(`${name} block at byte ${handle.offset}: unknown compression ${type}`);
}

/** The values of a block's entries (the keys are prefix-compressed; not needed here). */
function blockValues(block: Buffer): Buffer[] {
  if (block.length < 4) throw new Error('block too short');
  const restarts = block.readUInt32LE(block.length - 4);
  const entriesEnd = block.length - 4 - 4 * restarts;
  if (entriesEnd < 0) throw new Error('bad restart count');
  const values: Buffer[] = [];
  const at = { offset: 0 };
  while (at.offset < entriesEnd) {
    readVarint(block, at, entriesEnd); // shared key bytes
    const unshared = readVarint(block, at, entriesEnd);
    const valueLength = readVarint(block, at, entriesEnd);
    at.offset += unshared;
    if (at.offset + valueLength > entriesEnd) throw new Error('entry runs past its block');
    values.push(block.subarray(at.offset, at.offset + valueLength));
    at.offset += valueLength;
  }
  return values;
}

function readHandle(data: Buffer, at: { offset: number }, limit: number): BlockHandle {
  return { offset: readVarint(data, at, limit), size: readVarint(data, at, limit) };
}

/** Verifies a table file's footer, index and every data block; returns the problem, if any. */
export function checkTable(data: Buffer): string | undefined {
  try {
    if (data.length < FOOTER || !data.subarray(data.length - 8).equals(TABLE_MAGIC)) return 'truncated or not a table (no table footer)';
    const footerAt = { offset: data.length - FOOTER };
    const metaindex = readHandle(data, footerAt, data.length - 8);
    const index = readHandle(data, footerAt, data.length - 8);
    readTableBlock(data, metaindex, 'metaindex');
    for (const value of blockValues(readTableBlock(data, index, 'index'))) {
      readTableBlock(data, readHandle(value, { offset: 0 }, value.length), 'data');
    }
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * The files the MANIFEST's version edits leave live (leveldb/db/version_edit.cc): tables added
 * and not deleted, and the log number (logs from it on are replayed at open). Files outside this
 * are leftovers LevelDB deletes when it opens — e.g. a table a SIGKILL cut during a compaction.
 */
export function liveFiles(manifest: Buffer): { tables: Set<number>; minLogNumber: number; prevLogNumber: number } {
  const tables = new Set<number>();
  let minLogNumber = 0;
  let prevLogNumber = 0;
  const lengthPrefixed = (record: Buffer, at: { offset: number }): void => {
    const length = readVarint(record, at, record.length);
    at.offset += length;
  };
  checkLogFormat(manifest, (record) => {
    const at = { offset: 0 };
    while (at.offset < record.length) {
      const tag = readVarint(record, at, record.length);
      switch (tag) {
        case 1: // comparator name
          lengthPrefixed(record, at);
          break;
        case 2:
          minLogNumber = readVarint(record, at, record.length);
          break;
        case 3: // next file number
        case 4: // last sequence
          readVarint(record, at, record.length);
          break;
        case 5: // compaction pointer: level, internal key
          readVarint(record, at, record.length);
          lengthPrefixed(record, at);
          break;
        case 6: // deleted file: level, number
          readVarint(record, at, record.length);
          tables.delete(readVarint(record, at, record.length));
          break;
        case 7: // new file: level, number, size, smallest, largest
          readVarint(record, at, record.length);
          tables.add(readVarint(record, at, record.length));
          readVarint(record, at, record.length);
          lengthPrefixed(record, at);
          lengthPrefixed(record, at);
          break;
        case 9:
          prevLogNumber = readVarint(record, at, record.length);
          break;
        default:
          throw new Error(`unknown MANIFEST tag ${tag}`);
      }
    }
  });
  return { tables, minLogNumber, prevLogNumber };
}

/** Every damaged LevelDB file of the store at `location` (none: the files are sound). */
export async function checkLevelFiles(location: string): Promise<FileDamage[]> {
  let names: string[];
  try {
    names = await readdir(location);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  if (names.length === 0) return [];
  const damage: FileDamage[] = [];
  const at = (name: string): string => path.join(location, name);
  if (!names.includes('CURRENT')) {
    // A store that has files but no CURRENT lost its pointer to the MANIFEST.
    if (names.some((n) => n.startsWith('MANIFEST-') || n.endsWith('.ldb') || n.endsWith('.log'))) damage.push({ file: at('CURRENT'), what: 'missing' });
  }
  let live: ReturnType<typeof liveFiles> | undefined;
  if (names.includes('CURRENT')) {
    const current = (await readFile(at('CURRENT'), 'utf8')).trim();
    if (!/^MANIFEST-\d+$/.test(current)) damage.push({ file: at('CURRENT'), what: `does not name a MANIFEST (${JSON.stringify(current.slice(0, 40))})` });
    else if (!names.includes(current)) damage.push({ file: at(current), what: 'missing (CURRENT names it)' });
    else {
      const data = await readFile(at(current));
      const manifest = checkLogFormat(data);
      if (manifest.damage) damage.push({ file: at(current), what: manifest.damage });
      else if (manifest.records === 0) damage.push({ file: at(current), what: 'truncated: no complete record' });
      else {
        try {
          live = liveFiles(data);
        } catch (error) {
          damage.push({ file: at(current), what: `unreadable version edit: ${(error as Error).message}` });
        }
      }
    }
  }
  // Only what LevelDB will use: leftovers (a table cut by a kill during a compaction, an old
  // log) are deleted by LevelDB when it opens. Without a readable MANIFEST, check everything.
  const isLive = (name: string): boolean => {
    if (!live) return true;
    const number = Number(name.slice(0, name.indexOf('.')));
    if (name.endsWith('.log')) return number >= live.minLogNumber || number === live.prevLogNumber;
    return live.tables.has(number);
  };
  for (const name of names.sort()) {
    if (/^\d+\.(log|ldb|sst)$/.test(name) && !isLive(name)) continue;
    if (name.endsWith('.log') && /^\d+\.log$/.test(name)) {
      const result = checkLogFormat(await readFile(at(name)));
      if (result.damage) damage.push({ file: at(name), what: `${result.damage} (LevelDB would drop the rest of that block)` });
    } else if (/^\d+\.(ldb|sst)$/.test(name)) {
      const problem = checkTable(await readFile(at(name)));
      if (problem) damage.push({ file: at(name), what: problem });
    }
  }
  return damage;
}
