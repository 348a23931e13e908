import { MemoryStore } from '../../src/store/index.js';
import { storeContract } from './contract.js';

storeContract({
  name: 'memory',
  canReopen: false,
  make: async () => new MemoryStore(),
  cleanup: async () => undefined,
});
