/**
 * `npm run soak [-- --cycles N] [--fsync] [--seed N] [--no-pauses]`: the kill soak (kill-cycles.ts).
 * `npm run soak -- fuzz [--packets N] [--seed N]`: the fuzz run (fuzz-run.ts).
 * Long runs kept out of `npm test`; each prints its figures and exits non-zero on a violation.
 */
import { runKillSoak } from './kill-cycles.js';
import { runFuzzSoak } from './fuzz-run.js';

const args = process.argv.slice(2);
const optionValue = (flag: string): string | undefined => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
};
const numberOption = (flag: string, fallback: number): number => {
  const value = optionValue(flag);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`${flag} expects a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
};

async function main(): Promise<boolean> {
  const seed = numberOption('--seed', Date.now() % 100_000);
  if (args[0] === 'fuzz') return runFuzzSoak({ packets: numberOption('--packets', 1_000_000), seed });
  return runKillSoak({ cycles: numberOption('--cycles', 100), fsync: args.includes('--fsync'), seed, pauses: !args.includes('--no-pauses') });
}

main().then(
  (isPassed) => process.exit(isPassed ? 0 : 1),
  (error: unknown) => {
    process.stderr.write(`soak: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
