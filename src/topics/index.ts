export * from './validate.js';
export { SubscriptionTrie, type TrieEntry } from './trie.js';
export { RetainedIndex } from './retained.js';
