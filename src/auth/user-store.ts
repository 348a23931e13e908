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
 *
 * Beside it: the records and their rules (user-records.ts), the file (user-store-file.ts), the
 * password hashes (user-passwords.ts).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parsePasswordLine, type PasswordHash } from './password-file.js';
import { AclRuleError, parseAclRules, type AclRule } from './rules.js';
import { dummyHash, hashPassword, verifyPassword } from './user-passwords.js';
import {
  applyEntry,
  changesBetween,
  checkName,
  checkNames,
  checkPassword,
  effectiveAcl,
  emptyStoreFile,
  entriesOf,
  usersInGroup,
  usersWithRole,
  UserStoreError,
  type StoreFile,
  type UserChange,
  type UserPatch,
  type UserView,
} from './user-records.js';
import { readStoreFile, writeStoreFile } from './user-store-file.js';

export const DEFAULT_USER_STORE_ITERATIONS = 1000;

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
    this.state = readStoreFile(file);
    this.dummy = dummyHash(iterations);
  }

  /** Reads the file (or starts empty); a broken file throws rather than start with no users. */
  static open(dir: string, options: { iterations?: number } = {}): UserStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new UserStore(path.join(dir, 'users.json'), options.iterations ?? DEFAULT_USER_STORE_ITERATIONS);
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
    const isValid = await verifyPassword(hash, password ?? Buffer.alloc(0));
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
    const passwordHash = await hashPassword(password, this.iterations);
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
    const passwordHash = patch.password !== undefined ? await hashPassword(checkPassword(patch.password), this.iterations) : undefined;
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
      return { kind: 'grants', usernames: usersWithRole(draft, name) };
    });
  }

  async deleteRole(name: string): Promise<void> {
    await this.commit((draft) => {
      if (!Object.hasOwn(draft.roles, name)) throw new UserStoreError('not-found', `no role ${name}`);
      const affected = usersWithRole(draft, name);
      delete draft.roles[name];
      return { kind: 'grants', usernames: affected };
    });
  }

  async setGroup(name: string, roles: unknown): Promise<void> {
    checkName('group name', name);
    const roleNames = checkNames('roles', roles);
    await this.commit((draft) => {
      draft.groups[name] = { roles: roleNames };
      return { kind: 'grants', usernames: usersInGroup(draft, name) };
    });
  }

  async deleteGroup(name: string): Promise<void> {
    await this.commit((draft) => {
      if (!Object.hasOwn(draft.groups, name)) throw new UserStoreError('not-found', `no group ${name}`);
      delete draft.groups[name];
      return { kind: 'grants', usernames: usersInGroup(draft, name) };
    });
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
    await writeStoreFile(this.file, next);
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
    const next: StoreFile = isWhole ? emptyStoreFile() : structuredClone(this.state);
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
