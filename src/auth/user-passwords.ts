/**
 * The user store's passwords: salted PBKDF2-SHA512 in Mosquitto's `$7$` format, hashed and
 * checked off the event loop (node's pbkdf2 runs in the thread pool).
 */
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { PasswordHash } from './password-file.js';

const pbkdf2Async = promisify(pbkdf2);

/** A `$7$<iterations>$<salt>$<hash>` line part for a new password, with a fresh salt. */
export async function hashPassword(password: string, iterations: number): Promise<string> {
  const salt = randomBytes(12);
  const hash = await pbkdf2Async(password, salt, iterations, 64, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** A hash no password matches, with the same cost: checked for unknown users, so timing does not reveal names. */
export function dummyHash(iterations: number): PasswordHash {
  return { kind: 7, iterations, salt: randomBytes(12), hash: randomBytes(64) };
}

export async function verifyPassword(entry: PasswordHash, password: Buffer): Promise<boolean> {
  if (entry.kind !== 7) return false; // the store writes $7$ only
  const computed = await pbkdf2Async(password, entry.salt, entry.iterations, entry.hash.length || 64, 'sha512');
  return computed.length === entry.hash.length && timingSafeEqual(computed, entry.hash);
}
