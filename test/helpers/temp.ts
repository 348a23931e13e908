import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

export async function makeTempDir(prefix = 'midge-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/**
 * A config file (`midge.json` in a temp dir of its own) for child-process brokers, written when
 * the test file loads; its dir is removed after the file's tests. Returns the file's path.
 */
export function useConfigFile(prefix: string, config: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const file = path.join(dir, 'midge.json');
  writeFileSync(file, JSON.stringify(config));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return file;
}
