/**
 * The built-in user store: users (salted PBKDF2-SHA512 in Mosquitto's `$7$` format), groups and
 * roles with ACL rules, managed at runtime through the admin API and kept in one JSON file under
 * `<dataDir>/auth/users.json`, replaced atomically (write a temporary file, fsync, rename, fsync
 * the directory) on every change.
 *
 * Why a JSON file and not a second LevelDB: the authorization checks are synchronous (every
 * delivery asks canReceive), so the whole store lives in memory anyway; the file is read once,
 * synchronously, before any listener opens; a change is rare and small; and an operator can read,
 * back up or diff it. LevelDB would add a second lock and an async open for no gain at this size.
 *
 * Changes are serialised, written before they take effect, then announced to listeners (the
 * broker disconnects a disabled or deleted user's clients, re-checks subscriptions on a grant
 * change).
 */
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parsePasswordLine, type PasswordHash } from './password-file.js';
import { AclRuleError, parseAclRules, type AclRule } from './rules.js';

const pbkdf2Async = promisify(pbkdf2);

export const DEFAULT_USER_STORE_ITERATIONS = 1000;

export interface StoredUser {
  passwordHash: string;
  roles: string[];
  groups: string[];
  isDisabled: boolean;
  createdAt: string;
  updatedAt: string;
}

interface StoreFile {
  version: 1;
  users: Record<string, StoredUser>;
  roles: Record<string, { acl: AclRule[] }>;
  groups: Record<string, { roles: string[] }>;
}

/** What the admin API shows of a user: never the hash. */
export interface UserView {
  username: string;
  roles: string[];
  groups: string[];
  isDisabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export type UserChange =
  | { kind: 'disabled' | 'deleted'; usernames: string[] }
  /** Roles, groups or role rules changed: these users' ACLs are different now. */
  | { kind: 'grants'; usernames: string[] };

export class UserStoreError extends Error {
  constructor(
    readonly code: 'invalid' | 'exists' | 'not-found',
    message: string,
  ) {
    super(message);
    this.name = 'UserStoreError';
  }
}

export interface UserPatch {
  password?: string;
  roles?: string[];
  groups?: string[];
  isDisabled?: boolean;
}

const NAME = /^[^\u0000-\u001f\u007f+#/]{1,256}$/u;

/** Names that would be an object's prototype slot rather than an own key. */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new UserStoreError('invalid', `${kind} must be 1–256 characters without control characters, +, # or /`);
  if (RESERVED.has(name)) throw new UserStoreError('invalid', `${kind} ${name} is reserved`);
  return name;
}

function checkNames(kind: string, names: unknown): string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) throw new UserStoreError('invalid', `${kind} must be a list of names`);
  return [...new Set(names.map((n) => checkName(kind, n)))];
}

function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length === 0 || password.length > 1024) throw new UserStoreError('invalid', 'password must be 1–1024 characters');
  return password;
}

export class UserStore {
  private state: StoreFile;
  private writes: Promise<unknown> = Promise.resolve();
  private readonly listeners: Array<(change: UserChange) => void> = [];
  /** Effective rules per user, rebuilt lazily after a change. */
  private aclCache = new Map<string, AclRule[]>();
  private hashCache = new Map<string, PasswordHash>();
  /** Checked for unknown users: the same work as a real one. */
  private readonly dummy: PasswordHash;

  private constructor(
    readonly file: string,
    private readonly iterations: number,
  ) {
    this.state = UserStore.read(file);
    this.dummy = { kind: 7, iterations, salt: randomBytes(12), hash: randomBytes(64) };
  }

  /** Reads the file (or starts empty); a broken file throws rather than start with no users. */
  static open(dir: string, options: { iterations?: number } = {}): UserStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new UserStore(path.join(dir, 'users.json'), options.iterations ?? DEFAULT_USER_STORE_ITERATIONS);
  }

  private static read(file: string): StoreFile {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, users: {}, roles: {}, groups: {} };
      throw error;
    }
    const parsed = JSON.parse(text) as StoreFile;
    if (parsed.version !== 1 || typeof parsed.users !== 'object') throw new Error(`${file}: not a Midge user store (version 1)`);
    return { version: 1, users: parsed.users ?? {}, roles: parsed.roles ?? {}, groups: parsed.groups ?? {} };
  }

  onChange(listener: (change: UserChange) => void): void {
    this.listeners.push(listener);
  }

  // --- reads ------------------------------------------------------------------------------

  get userCount(): number {
    return Object.keys(this.state.users).length;
  }

  listUsers(): UserView[] {
    return Object.keys(this.state.users).sort().map((name) => this.getUser(name)!);
  }

  getUser(username: string): UserView | undefined {
    const user = Object.hasOwn(this.state.users, username) ? this.state.users[username] : undefined;
    if (!user) return undefined;
    return { username, roles: user.roles, groups: user.groups, isDisabled: user.isDisabled, createdAt: user.createdAt, updatedAt: user.updatedAt };
  }

  listRoles(): Array<{ name: string; acl: AclRule[] }> {
    return Object.entries(this.state.roles).map(([name, role]) => ({ name, acl: role.acl }));
  }

  listGroups(): Array<{ name: string; roles: string[] }> {
    return Object.entries(this.state.groups).map(([name, group]) => ({ name, roles: group.roles }));
  }

  /** The user's rules: its roles' and its groups' roles', in that order; undefined for no such user. */
  aclFor(username: string): AclRule[] | undefined {
    const cached = this.aclCache.get(username);
    if (cached) return cached;
    const user = Object.hasOwn(this.state.users, username) ? this.state.users[username] : undefined;
    if (!user) return undefined;
    const roleNames = [...user.roles, ...user.groups.flatMap((g) => this.state.groups[g]?.roles ?? [])];
    const acl = roleNames.flatMap((r) => (Object.hasOwn(this.state.roles, r) ? this.state.roles[r]!.acl : []));
    this.aclCache.set(username, acl);
    return acl;
  }

  /** Constant work for unknown users (a dummy hash is checked), so timing does not reveal names. */
  async verify(username: string, password: Buffer | undefined): Promise<'unknown' | 'disabled' | 'valid' | 'invalid'> {
    const user = Object.hasOwn(this.state.users, username) ? this.state.users[username] : undefined;
    const hash = user ? this.hashOf(user.passwordHash) : this.dummy;
    const isValid = await verifyAsync(hash, password ?? Buffer.alloc(0));
    if (!user) return 'unknown';
    if (user.isDisabled) return 'disabled';
    return isValid ? 'valid' : 'invalid';
  }


  private hashOf(encoded: string): PasswordHash {
    let hash = this.hashCache.get(encoded);
    if (!hash) {
      hash = parsePasswordLine('users.json', 0, `u:${encoded}`)[1];
      this.hashCache.set(encoded, hash);
    }
    return hash;
  }

  // --- changes ----------------------------------------------------------------------------

  async createUser(input: { username?: unknown; password?: unknown; roles?: unknown; groups?: unknown; isDisabled?: unknown }): Promise<UserView> {
    const username = checkName('username', input.username);
    const password = checkPassword(input.password);
    const roles = checkNames('roles', input.roles);
    const groups = checkNames('groups', input.groups);
    const passwordHash = await this.hash(password);
    await this.commit((draft) => {
      if (Object.hasOwn(draft.users, username)) throw new UserStoreError('exists', `user ${username} exists`);
      const now = new Date().toISOString();
      draft.users[username] = { passwordHash, roles, groups, isDisabled: input.isDisabled === true, createdAt: now, updatedAt: now };
      return undefined;
    });
    return this.getUser(username)!;
  }

  async updateUser(username: string, patch: UserPatch): Promise<UserView> {
    if (patch.isDisabled !== undefined && typeof patch.isDisabled !== 'boolean') throw new UserStoreError('invalid', 'isDisabled must be true or false');
    const roles = patch.roles !== undefined ? checkNames('roles', patch.roles) : undefined;
    const groups = patch.groups !== undefined ? checkNames('groups', patch.groups) : undefined;
    const passwordHash = patch.password !== undefined ? await this.hash(checkPassword(patch.password)) : undefined;
    await this.commit((draft) => {
      const user = Object.hasOwn(draft.users, username) ? draft.users[username] : undefined;
      if (!user) throw new UserStoreError('not-found', `no user ${username}`);
      const wasDisabled = user.isDisabled;
      if (passwordHash !== undefined) user.passwordHash = passwordHash;
      if (roles) user.roles = roles;
      if (groups) user.groups = groups;
      if (patch.isDisabled !== undefined) user.isDisabled = patch.isDisabled;
      user.updatedAt = new Date().toISOString();
      if (user.isDisabled && !wasDisabled) return { kind: 'disabled', usernames: [username] };
      return roles || groups ? { kind: 'grants', usernames: [username] } : undefined;
    });
    return this.getUser(username)!;
  }

  async deleteUser(username: string): Promise<void> {
    await this.commit((draft) => {
      if (!Object.hasOwn(draft.users, username)) throw new UserStoreError('not-found', `no user ${username}`);
      delete draft.users[username];
      return { kind: 'deleted', usernames: [username] };
    });
  }

  async setRole(name: string, acl: unknown): Promise<void> {
    checkName('role name', name);
    let rules: AclRule[];
    try {
      rules = parseAclRules(acl);
    } catch (error) {
      if (error instanceof AclRuleError) throw new UserStoreError('invalid', error.message);
      throw error;
    }
    await this.commit((draft) => {
      draft.roles[name] = { acl: rules };
      return { kind: 'grants', usernames: this.usersWithRole(draft, name) };
    });
  }

  async deleteRole(name: string): Promise<void> {
    await this.commit((draft) => {
      if (!Object.hasOwn(draft.roles, name)) throw new UserStoreError('not-found', `no role ${name}`);
      const affected = this.usersWithRole(draft, name);
      delete draft.roles[name];
      return { kind: 'grants', usernames: affected };
    });
  }

  async setGroup(name: string, roles: unknown): Promise<void> {
    checkName('group name', name);
    const roleNames = checkNames('roles', roles);
    await this.commit((draft) => {
      draft.groups[name] = { roles: roleNames };
      return { kind: 'grants', usernames: Object.entries(draft.users).filter(([, u]) => u.groups.includes(name)).map(([n]) => n) };
    });
  }

  async deleteGroup(name: string): Promise<void> {
    await this.commit((draft) => {
      if (!Object.hasOwn(draft.groups, name)) throw new UserStoreError('not-found', `no group ${name}`);
      delete draft.groups[name];
      return { kind: 'grants', usernames: Object.entries(draft.users).filter(([, u]) => u.groups.includes(name)).map(([n]) => n) };
    });
  }

  private usersWithRole(draft: StoreFile, role: string): string[] {
    const groups = new Set(Object.entries(draft.groups).filter(([, g]) => g.roles.includes(role)).map(([n]) => n));
    return Object.entries(draft.users)
      .filter(([, u]) => u.roles.includes(role) || u.groups.some((g) => groups.has(g)))
      .map(([n]) => n);
  }

  private async hash(password: string): Promise<string> {
    const salt = randomBytes(12);
    const hash = await pbkdf2Async(password, salt, this.iterations, 64, 'sha512');
    return `$7$${this.iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
  }

  /** Applies a change to a copy, writes it, then makes it current and announces it. */
  private commit(mutate: (draft: StoreFile) => UserChange | undefined): Promise<void> {
    const run = async (): Promise<void> => {
      const draft = structuredClone(this.state);
      const change = mutate(draft);
      await writeAtomically(this.file, JSON.stringify(draft, null, 1));
      this.state = draft;
      this.aclCache = new Map();
      if (this.hashCache.size > 10_000) this.hashCache = new Map();
      if (change && change.usernames.length > 0) for (const listener of this.listeners) listener(change);
    };
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => undefined);
    return result;
  }
}

async function verifyAsync(entry: PasswordHash, password: Buffer): Promise<boolean> {
  if (entry.kind !== 7) return false; // the store writes $7$ only
  const computed = await pbkdf2Async(password, entry.salt, entry.iterations, entry.hash.length || 64, 'sha512');
  return computed.length === entry.hash.length && timingSafeEqual(computed, entry.hash);
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
