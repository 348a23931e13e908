/**
 * `midge store check [--data-dir <dir>]` and `midge store repair [--data-dir <dir>]`: what a
 * damaged store holds, and getting it back to a state the broker starts from, saying exactly
 * what was dropped. Run with the broker stopped (LevelDB allows one process at a time).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkStore, isStoreSound, repairStore, type StoreCheckReport } from './check.js';

export interface StoreCommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const USAGE = 'usage: midge store check|repair [--data-dir <dir>]   (default ./data; the broker must be stopped)';
/** How many dropped or unreadable records are listed one per line before a count. */
const LISTED = 50;

function describeCounts(report: StoreCheckReport): string {
  const c = report.counts;
  if (!c) return 'records not read';
  return `${c.sessions} sessions, ${c.subscriptions} subscriptions, ${c.deliveries} queued deliveries, ${c.qos2Ids} QoS 2 ids awaiting PUBREL, ${c.retained} retained messages`;
}

function writeFindings(out: NodeJS.WritableStream, report: StoreCheckReport, verb: string): void {
  for (const d of report.fileDamage) out.write(`damaged file: ${d.file}: ${d.what}\n`);
  if (report.readError) out.write(`LevelDB cannot read the store: ${report.readError}\n`);
  const records = [...report.unreadable.map((r) => ({ ...r, kind: 'unreadable' })), ...report.orphans.map((r) => ({ ...r, kind: 'orphan' }))];
  for (const r of records.slice(0, LISTED)) out.write(`${verb} ${r.kind} record ${r.key}: ${r.why}\n`);
  if (records.length > LISTED) out.write(`… and ${records.length - LISTED} more\n`);
}

export async function runStoreCommand(argv: readonly string[], io: StoreCommandIo): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], strict: true, allowPositionals: true, options: { 'data-dir': { type: 'string' } } }));
  } catch (error) {
    io.stderr.write(`midge store: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [action, ...rest] = positionals;
  if ((action !== 'check' && action !== 'repair') || rest.length > 0) {
    io.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const dataDir = values['data-dir'] ?? './data';
  const location = path.join(dataDir, 'store');
  try {
    if (action === 'check') {
      const report = await checkStore(location);
      io.stdout.write(`store ${location}: ${describeCounts(report)}\n`);
      writeFindings(io.stdout, report, 'found');
      if (isStoreSound(report)) {
        io.stdout.write('store is sound\n');
        return 0;
      }
      io.stdout.write(`store is DAMAGED: run \`midge store repair --data-dir ${dataDir}\` (keep a copy of ${dataDir} first if it matters)\n`);
      return 1;
    }
    const { before, truncatedLogs, usedLevelRepair, after } = await repairStore(location);
    for (const d of before.fileDamage) io.stdout.write(`damaged file: ${d.file}: ${d.what}\n`);
    for (const t of truncatedLogs) {
      io.stdout.write(`cut ${t.file} back to byte ${t.at}: the damaged write and everything after it in that log (${t.droppedBytes} bytes) dropped, the ${t.keptWrites} writes before it kept\n`);
    }
    if (usedLevelRepair) {
      io.stdout.write(`LevelDB repair ran (damaged files below); it keeps what it could not use in ${path.join(location, 'lost')}\n`);
    }
    writeFindings(io.stdout, { ...before, fileDamage: [] }, 'dropped');
    io.stdout.write(`dropped ${before.unreadable.length} unreadable and ${before.orphans.length} orphaned records\n`);
    io.stdout.write(`store ${location} now: ${describeCounts(after)}\n`);
    if (!isStoreSound(after)) {
      writeFindings(io.stdout, after, 'still');
      io.stdout.write('store is still DAMAGED: restore it from a backup\n');
      return 1;
    }
    io.stdout.write('store is sound: the broker can start\n');
    return 0;
  } catch (error) {
    io.stderr.write(`midge store ${action}: ${(error as Error).message}\n`);
    return 2;
  }
}
