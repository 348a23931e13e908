import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export async function makeTempDir(prefix = 'midge-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}
