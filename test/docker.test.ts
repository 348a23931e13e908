/**
 * No Docker engine here, so the image's steps run by other means: the files the Dockerfile
 * copies, the same npm commands in a scratch dir, then the image's command with its environment.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAllClients, connectClient } from './helpers/clients.js';
import { ROOT } from './helpers/process.js';
import { makeTempDir } from './helpers/temp.js';

const dockerfile = readFileSync(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
const buildStage = dockerfile.split(/^FROM /m)[1]!;
const finalStage = dockerfile.split(/^FROM /m)[2]!;

/** `COPY a b ./dest` lines of the build stage: what the image build reads from the repository. */
function copiedFiles(): string[] {
  return [...buildStage.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
}

/** `ENV A=1 \ B=2` of the final stage as an object. */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  const block = /^ENV ((?:.*\\\n)*.*)$/m.exec(finalStage)![1]!.replace(/\\\n/g, ' ');
  for (const pair of block.trim().split(/\s+/)) {
    const [key, value] = pair.split('=');
    env[key!] = value!;
  }
  return env;
}

function run(cmd: string, args: string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: 'pipe', timeout: 240_000 });
}

describe('docker image steps (run without Docker)', () => {
  let dir: string;
  afterAll(async () => {
    await closeAllClients();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds from exactly the copied files, refuses to run open, and serves MQTT when allowed', async () => {
    dir = await makeTempDir('midge-image-');
    const files = copiedFiles();
    expect(files).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src']));
    for (const file of files) cpSync(path.join(ROOT, file), path.join(dir, file), { recursive: true });
    run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], dir);
    run('npm', ['run', 'build'], dir);
    run('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund'], dir);
    // The image runs the one-file bundle `npm run build` makes (faster start, smaller RSS).
    expect(/CMD \["node", "dist\/midge.mjs"\]/.test(finalStage)).toBe(true);

    const env = { ...process.env, ...imageEnv(), MIDGE_DATA_DIR: path.join(dir, 'data'), MIDGE_PORT: '0', MIDGE_HTTP__PORT: '0' };
    // As built: 0.0.0.0 without authentication must not start.
    const open = spawn(process.execPath, ['dist/midge.mjs'], { cwd: dir, env });
    let refusal = '';
    open.stderr.on('data', (d: Buffer) => (refusal += d.toString()));
    const [openCode] = await new Promise<[number | null]>((resolve) => open.once('exit', (code) => resolve([code])));
    expect(openCode).toBe(2);
    expect(refusal).toMatch(/allow-anonymous|http\.token/);

    // With the explicit opt-ins the compose file sets, it runs and answers MQTT on loopback.
    const allowed = spawn(process.execPath, ['dist/midge.mjs'], {
      cwd: dir,
      env: { ...env, MIDGE_AUTH__ALLOW_ANONYMOUS: 'true', MIDGE_HTTP__TOKEN: 'a-long-enough-test-token' },
    });
    let out = '';
    allowed.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 20_000);
      allowed.stdout.on('data', () => {
        const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      });
    });
    const client = await connectClient(`mqtt://127.0.0.1:${port}`, { clientId: 'image-check' });
    expect(client.connected).toBe(true);
    await client.endAsync();
    allowed.kill('SIGTERM');
    const [code] = await new Promise<[number | null]>((resolve) => allowed.once('exit', (c) => resolve([c])));
    expect(code).toBe(0);
  }, 300_000);
});
