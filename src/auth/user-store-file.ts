/**
 * The user store's file, `<dataDir>/auth/users.json`: read once, synchronously, before any listener
 * opens; replaced atomically on every change (write a temporary file, fsync, rename, fsync the
 * directory), mode 0600.
 */
import { readFileSync } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { emptyStoreFile, type StoreFile } from './user-records.js';

/** Reads the file (or an empty store when there is none); a broken file throws rather than start with no users. */
export function readStoreFile(file: string): StoreFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyStoreFile();
    throw error;
  }
  const parsed = JSON.parse(text) as StoreFile;
  if (parsed.version !== 1 || typeof parsed.users !== 'object') throw new Error(`${file}: not a Midge user store (version 1)`);
  return { version: 1, users: parsed.users ?? {}, roles: parsed.roles ?? {}, groups: parsed.groups ?? {} };
}

export function writeStoreFile(file: string, state: StoreFile): Promise<void> {
  return writeAtomically(file, JSON.stringify(state, null, 1));
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  const handle = await open(temporary, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  // The rename itself must reach the disk too.
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
