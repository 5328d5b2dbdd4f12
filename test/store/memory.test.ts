import { MemoryRunStore } from '../../src/store/index.js';
import { runStoreConformance } from './conformance.js';

runStoreConformance('memory', async () => {
  const store = new MemoryRunStore();
  return {
    store,
    openPeer: async () => store,
    forceSchemaVersion: async (id, v) => store.forceSchemaVersion(id, v),
    dispose: () => store.close(),
  };
});
