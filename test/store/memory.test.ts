import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/index.js';
import { storeContract } from '../../src/store/contract.js';
import { ROOT } from '../helpers/process.js';

storeContract({
  name: 'memory',
  canReopen: false,
  make: async () => new MemoryStore(),
  cleanup: async () => undefined,
});

describe('the exported contract suite', () => {
  it('package.json exports midge/store-contract as the build of src/store/contract.ts', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { default: string; types: string }>; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
    expect(pkg.exports['./store-contract']).toEqual({ types: './dist/store/contract.d.ts', default: './dist/store/contract.js' });
    expect(existsSync(path.join(ROOT, 'src/store/contract.ts'))).toBe(true);
    // The broker never loads vitest: only whoever imports the suite needs it.
    expect(pkg.peerDependenciesMeta?.vitest?.optional).toBe(true);
    expect(readFileSync(path.join(ROOT, 'src/store/index.ts'), 'utf8')).not.toContain('contract');
  });
});
