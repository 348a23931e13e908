/** Runs the built `midge` command as a child process and reads its pino log lines. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** BENCH_MIDGE_CLI (not MIDGE_*: the broker rejects unknown MIDGE_ variables) runs another build (e.g. a worktree of an older commit) for before/after figures. */
export const CLI = process.env.BENCH_MIDGE_CLI ?? path.join(ROOT, 'dist/cli.js');

export interface BrokerProcess {
  child: ChildProcessWithoutNullStreams;
  port: number;
  /** Every stdout line parsed as JSON (non-JSON lines are kept as { raw }). */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node dist/cli.js args…` and resolves once it logs "listening" with its port. */
/** Parallel test brokers must not all take the admin port 8888; tests that want it set it. */
const TEST_ENV = { MIDGE_HTTP__ENABLED: 'false' };

export function spawnBroker(args: string[], timeoutMs = 10_000, env: NodeJS.ProcessEnv = {}): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...TEST_ENV, ...env } });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started broker behind.
      child.kill('SIGKILL');
      reject(new Error(`broker did not start: ${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          entry = { raw: line };
        }
        logs.push(entry);
        if (entry.msg === 'listening') {
          clearTimeout(timer);
          resolve({ child, port: entry.port as number, logs, stderr: () => stderr, exited });
        }
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before listening: ${stderr}`));
    });
  });
}

/** Runs the CLI to completion (for flag errors) and returns its exit code and output. */
export function runCli(args: string[], timeoutMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...TEST_ENV } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('CLI did not exit'));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
