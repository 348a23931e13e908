import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LevelStore, StoreOpenError } from '../../src/store/index.js';
import { makeTempDir } from '../helpers/temp.js';
import { storeContract } from '../../src/store/contract.js';

let dir: string | undefined;

storeContract({
  name: 'level',
  canReopen: true,
  make: async (reopen) => {
    if (!reopen || !dir) dir = await makeTempDir('midge-store-');
    return new LevelStore(path.join(dir, 'store'));
  },
  cleanup: async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  },
});

describe('LevelStore open errors', () => {
  it('a second store on the same directory fails with a one-line "locked" error', async () => {
    const base = await makeTempDir('midge-store-');
    const first = new LevelStore(path.join(base, 'store'));
    await first.open();
    const second = new LevelStore(path.join(base, 'store'));
    const error = await second.open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toMatch(/locked/);
    expect((error as Error).message).not.toContain('\n');
    await first.close();
    await rm(base, { recursive: true, force: true });
  });
});
