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
 *
 * In a cluster the store is shared (`share(replica)`): every user, role and group is one entry of
 * the replica (the engine's KV bucket), written with the revision it was read at, so two nodes
 * changing the same entry at once cannot lose one change (the later one is re-applied on the
 * newer state). Entries other nodes write arrive through the replica's watch and are applied —
 * written to this node's file, then announced — as local changes are. The replica is the truth:
 * a node joining a cluster whose replica already holds entries takes them over its own file.
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

/**
 * The shared copy of the store (a cluster engine's KV bucket): one entry per user, role and group,
 * keyed `user:<name>`, `role:<name>`, `group:<name>`, the value its JSON, or undefined once deleted.
 */
export interface UserStoreReplica {
  /** Every entry there is, with its revision. */
  read(): Promise<Map<string, { value: string | undefined; revision: number }>>;
  /** Writes one entry if its revision is still `basedOn` (0: never written): the new revision, or 'conflict'. */
  write(key: string, value: string | undefined, basedOn: number): Promise<number | 'conflict'>;
  /** Every later write, by any node (this one's included); returns a stop function. */
  watch(onEntry: (key: string, value: string | undefined, revision: number) => void): () => void;
}

type EntryKind = 'user' | 'role' | 'group';
const COLLECTION = { user: 'users', role: 'roles', group: 'groups' } as const;

/** Each user, role and group of a state as `kind:name` → its JSON. */
function entriesOf(state: StoreFile): Map<string, string> {
  const entries = new Map<string, string>();
  for (const kind of ['user', 'role', 'group'] as const) {
    for (const [name, value] of Object.entries(state[COLLECTION[kind]])) entries.set(`${kind}:${name}`, JSON.stringify(value));
  }
  return entries;
}

function applyEntry(state: StoreFile, key: string, value: string | undefined): void {
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon) as EntryKind;
  const name = key.slice(colon + 1);
  if (!Object.hasOwn(COLLECTION, kind) || RESERVED.has(name)) return; // not ours: ignored
  const collection = state[COLLECTION[kind]] as Record<string, unknown>;
  if (value === undefined) delete collection[name];
  else collection[name] = JSON.parse(value) as unknown;
}

/** The rules a state gives a user: its roles' and its groups' roles', in that order. */
function effectiveAcl(state: StoreFile, username: string): AclRule[] | undefined {
  const user = Object.hasOwn(state.users, username) ? state.users[username] : undefined;
  if (!user) return undefined;
  const roleNames = [...user.roles, ...user.groups.flatMap((g) => (Object.hasOwn(state.groups, g) ? state.groups[g]!.roles : []))];
  return roleNames.flatMap((r) => (Object.hasOwn(state.roles, r) ? state.roles[r]!.acl : []));
}

/** What a change from `before` to `after` means for connected clients. */
function changesBetween(before: StoreFile, after: StoreFile): UserChange[] {
  const deleted: string[] = [];
  const disabled: string[] = [];
  const grants: string[] = [];
  for (const [name, old] of Object.entries(before.users)) {
    const now = Object.hasOwn(after.users, name) ? after.users[name] : undefined;
    if (!now) deleted.push(name);
    else if (now.isDisabled && !old.isDisabled) disabled.push(name);
    else if (JSON.stringify(effectiveAcl(before, name)) !== JSON.stringify(effectiveAcl(after, name))) grants.push(name);
  }
  const changes: UserChange[] = [];
  if (deleted.length > 0) changes.push({ kind: 'deleted', usernames: deleted });
  if (disabled.length > 0) changes.push({ kind: 'disabled', usernames: disabled });
  if (grants.length > 0) changes.push({ kind: 'grants', usernames: grants });
  return changes;
}

export class UserStore {
  private state: StoreFile;
  private replica: UserStoreReplica | undefined;
  /** The replica revision of each entry as this node last saw it (cluster mode). */
  private readonly revisions = new Map<string, number>();
  private stopWatch: (() => void) | undefined;
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
    const acl = effectiveAcl(this.state, username);
    if (acl) this.aclCache.set(username, acl);
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

  /** Applies a change to a copy, writes it (to the replica first, when shared), then makes it current and announces it. */
  private commit(mutate: (draft: StoreFile) => UserChange | undefined): Promise<void> {
    return this.serialised(async () => {
      for (;;) {
        const draft = structuredClone(this.state);
        const change = mutate(draft);
        if (this.replica && !(await this.writeReplica(draft))) {
          // Another node changed the same entry first: apply theirs, then this change on top.
          await this.adopt(await this.replica.read(), false);
          continue;
        }
        await this.install(draft, change ? [change] : []);
        return;
      }
    });
  }

  private serialised(run: () => Promise<void>): Promise<void> {
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => undefined);
    return result;
  }

  /** Writes the new state to this node's file, makes it current and announces the changes. */
  private async install(next: StoreFile, changes: readonly UserChange[]): Promise<void> {
    await writeAtomically(this.file, JSON.stringify(next, null, 1));
    this.state = next;
    this.aclCache = new Map();
    if (this.hashCache.size > 10_000) this.hashCache = new Map();
    for (const change of changes) if (change.usernames.length > 0) for (const listener of this.listeners) listener(change);
  }

  /** The entries `draft` changed, written to the replica; false when one was changed elsewhere first. */
  private async writeReplica(draft: StoreFile): Promise<boolean> {
    const before = entriesOf(this.state);
    const after = entriesOf(draft);
    const changed = [...after].filter(([key, json]) => before.get(key) !== json).map(([key, json]) => [key, json] as [string, string | undefined]);
    for (const key of before.keys()) if (!after.has(key)) changed.push([key, undefined]);
    for (const [key, value] of changed) {
      const revision = await this.replica!.write(key, value, this.revisions.get(key) ?? 0);
      if (revision === 'conflict') return false;
      this.revisions.set(key, revision);
    }
    return true;
  }

  // --- sharing (cluster) ------------------------------------------------------------------

  /**
   * Shares the store through `replica` (cluster mode): an empty replica gets this node's entries;
   * one with entries replaces this node's state. Later writes by other nodes apply as they come.
   */
  share(replica: UserStoreReplica): Promise<void> {
    this.replica = replica;
    return this.serialised(async () => {
      const shared = await replica.read();
      if (shared.size === 0) {
        for (const [key, value] of entriesOf(this.state)) {
          const revision = await replica.write(key, value, 0);
          if (revision !== 'conflict') this.revisions.set(key, revision);
        }
        // A node that started at the same moment may have seeded too: take what is there now.
        await this.adopt(await replica.read(), false);
      } else {
        await this.adopt(shared, true);
      }
      this.stopWatch = replica.watch((key, value, revision) => {
        void this.serialised(() => this.adopt(new Map([[key, { value, revision }]]), false)).catch(() => undefined);
      });
    });
  }

  stopSharing(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.replica = undefined;
  }

  /**
   * Applies replica entries newer than what this node saw; `isWhole` says they are all there is
   * (entries missing from them are gone).
   */
  private async adopt(entries: ReadonlyMap<string, { value: string | undefined; revision: number }>, isWhole: boolean): Promise<void> {
    const next: StoreFile = isWhole ? { version: 1, users: {}, roles: {}, groups: {} } : structuredClone(this.state);
    let isChanged = isWhole;
    if (isWhole) this.revisions.clear();
    for (const [key, { value, revision }] of entries) {
      if (!isWhole && revision <= (this.revisions.get(key) ?? 0)) continue;
      this.revisions.set(key, revision);
      try {
        applyEntry(next, key, value);
        isChanged = true;
      } catch {
        // An entry this node cannot read (a later version's format): left out rather than stop.
      }
    }
    if (!isChanged) return;
    await this.install(next, changesBetween(this.state, next));
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
