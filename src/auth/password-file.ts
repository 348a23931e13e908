/**
 * Mosquitto-compatible password files (`mosquitto_passwd`): `user:$7$<iterations>$<salt>$<hash>`
 * (PBKDF2-SHA512, 64-byte hash, base64 salt and hash) and the older `user:$6$<salt>$<hash>`
 * (SHA-512 of password then salt), read-only. Failed logins are slowed per client address.
 */
import { createHash, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AuthenticationResult, Authenticator, ConnectCredentials } from './types.js';

const BAD_USER_NAME_OR_PASSWORD = 0x86;
const NOT_AUTHORIZED = 0x87;
export const DEFAULT_ITERATIONS = 101; // mosquitto_passwd's default

export type PasswordHash = { kind: 7; iterations: number; salt: Buffer; hash: Buffer } | { kind: 6; salt: Buffer; hash: Buffer };

export class PasswordFileError extends Error {
  constructor(file: string, line: number, why: string) {
    super(`${file}:${line}: ${why}`);
    this.name = 'PasswordFileError';
  }
}

export function parsePasswordLine(file: string, lineNumber: number, line: string): [string, PasswordHash] {
  const colon = line.lastIndexOf(':');
  if (colon <= 0) throw new PasswordFileError(file, lineNumber, 'expected user:hash');
  const user = line.slice(0, colon);
  const parts = line.slice(colon + 1).split('$');
  if (parts[1] === '7' && parts.length === 5) {
    const iterations = Number(parts[2]);
    if (!Number.isInteger(iterations) || iterations < 1) throw new PasswordFileError(file, lineNumber, 'bad iteration count');
    return [user, { kind: 7, iterations, salt: Buffer.from(parts[3]!, 'base64'), hash: Buffer.from(parts[4]!, 'base64') }];
  }
  if (parts[1] === '6' && parts.length === 4) {
    return [user, { kind: 6, salt: Buffer.from(parts[2]!, 'base64'), hash: Buffer.from(parts[3]!, 'base64') }];
  }
  throw new PasswordFileError(file, lineNumber, 'unknown hash format (expected $7$ or $6$)');
}

export function readPasswordFile(file: string): Map<string, PasswordHash> {
  const users = new Map<string, PasswordHash>();
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const [user, hash] = parsePasswordLine(file, i + 1, line);
      users.set(user, hash);
    });
  return users;
}

/** A `$7$` line's hash part for a new password, as mosquitto_passwd writes it. */
export function hashPasswordV7(password: string, iterations = DEFAULT_ITERATIONS, salt: Buffer = randomBytes(12)): string {
  const hash = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function verify(entry: PasswordHash, password: Buffer): boolean {
  const computed =
    entry.kind === 7
      ? pbkdf2Sync(password, entry.salt, entry.iterations, entry.hash.length || 64, 'sha512')
      : createHash('sha512').update(password).update(entry.salt).digest();
  return computed.length === entry.hash.length && timingSafeEqual(computed, entry.hash);
}

/** Same work for an unknown user as for a known one: no timing oracle on user names. */
const DUMMY: PasswordHash = { kind: 7, iterations: DEFAULT_ITERATIONS, salt: randomBytes(12), hash: randomBytes(64) };

export interface PasswordFileOptions {
  /** Accept clients that give no user name at all. */
  allowAnonymous: boolean;
  /** Waits between failures, injectable so tests need not wait. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export class PasswordFileAuthenticator implements Authenticator {
  private users: Map<string, PasswordHash>;
  /** Consecutive failures per address, for the brute-force delay. */
  private readonly failures = new Map<string, { count: number; lastAt: number }>();
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    readonly file: string,
    private readonly options: PasswordFileOptions,
  ) {
    this.users = readPasswordFile(file);
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
  }

  get userCount(): number {
    return this.users.size;
  }

  async reload(): Promise<void> {
    this.users = readPasswordFile(this.file); // throws and keeps the old users on a broken file
  }

  /** 0 for the first failure, then 100 ms doubling per failure, at most 5 s. */
  delayFor(address: string): number {
    const entry = this.failures.get(address);
    if (!entry || entry.count === 0) return 0;
    // Forget failures older than a minute: a typo yesterday costs nothing today.
    if (this.now() - entry.lastAt > 60_000) return 0;
    return Math.min(5000, 100 * 2 ** (entry.count - 1));
  }

  /**
   * One check with no slowdown, for the authentication chain (whose login guard does the
   * brute-force defence): an unknown user costs the same hash work as a known one.
   */
  verifyUser(username: string, password: Buffer | undefined): 'unknown' | 'valid' | 'invalid' {
    const entry = this.users.get(username);
    const isValid = verify(entry ?? DUMMY, password ?? Buffer.alloc(0));
    if (entry === undefined) return 'unknown';
    return isValid ? 'valid' : 'invalid';
  }

  async authenticate(credentials: ConnectCredentials): Promise<AuthenticationResult> {
    const address = hostOf(credentials.remoteAddress ?? '');
    const delay = this.delayFor(address);
    if (delay > 0) await this.sleep(delay);
    if (credentials.username === undefined) {
      return this.options.allowAnonymous ? { isAccepted: true } : this.fail(address, NOT_AUTHORIZED);
    }
    const entry = this.users.get(credentials.username);
    const isValid = verify(entry ?? DUMMY, credentials.password ?? Buffer.alloc(0)) && entry !== undefined;
    if (!isValid) return this.fail(address, BAD_USER_NAME_OR_PASSWORD);
    this.failures.delete(address);
    return { isAccepted: true };
  }

  private fail(address: string, reasonCode: number): AuthenticationResult {
    const entry = this.failures.get(address);
    const isStale = entry !== undefined && this.now() - entry.lastAt > 60_000;
    this.failures.set(address, { count: entry && !isStale ? entry.count + 1 : 1, lastAt: this.now() });
    // Bounded: an address flood cannot grow this without limit.
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value as string);
    return { isAccepted: false, reasonCode };
  }
}

function hostOf(remoteAddress: string): string {
  const colon = remoteAddress.lastIndexOf(':');
  return colon > 0 ? remoteAddress.slice(0, colon) : remoteAddress;
}
