/**
 * The user store's records and their rules, without I/O: the shape of `users.json`, the name and
 * password checks, the rules a state gives a user, what a change from one state to another means
 * for connected clients, and a state as the entries of a cluster's shared copy (`kind:name` →
 * JSON). user-store.ts keeps the state and writes it; this file only reads and derives.
 */
import type { AclRule } from './rules.js';

export interface StoredUser {
  passwordHash: string;
  roles: string[];
  groups: string[];
  isDisabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface StoreFile {
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

export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new UserStoreError('invalid', `${kind} must be 1–256 characters without control characters, +, # or /`);
  if (RESERVED.has(name)) throw new UserStoreError('invalid', `${kind} ${name} is reserved`);
  return name;
}

export function checkNames(kind: string, names: unknown): string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) throw new UserStoreError('invalid', `${kind} must be a list of names`);
  return [...new Set(names.map((n) => checkName(kind, n)))];
}

export function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length === 0 || password.length > 1024) throw new UserStoreError('invalid', 'password must be 1–1024 characters');
  return password;
}

/** A store with nothing in it yet. */
export function emptyStoreFile(): StoreFile {
  return { version: 1, users: {}, roles: {}, groups: {} };
}

type EntryKind = 'user' | 'role' | 'group';
const COLLECTION = { user: 'users', role: 'roles', group: 'groups' } as const;

/** Each user, role and group of a state as `kind:name` → its JSON. */
export function entriesOf(state: StoreFile): Map<string, string> {
  const entries = new Map<string, string>();
  for (const kind of ['user', 'role', 'group'] as const) {
    for (const [name, value] of Object.entries(state[COLLECTION[kind]])) entries.set(`${kind}:${name}`, JSON.stringify(value));
  }
  return entries;
}

export function applyEntry(state: StoreFile, key: string, value: string | undefined): void {
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon) as EntryKind;
  const name = key.slice(colon + 1);
  if (!Object.hasOwn(COLLECTION, kind) || RESERVED.has(name)) return; // not ours: ignored
  const collection = state[COLLECTION[kind]] as Record<string, unknown>;
  if (value === undefined) delete collection[name];
  else collection[name] = JSON.parse(value) as unknown;
}

/** The rules a state gives a user: its roles' and its groups' roles', in that order. */
export function effectiveAcl(state: StoreFile, username: string): AclRule[] | undefined {
  const user = Object.hasOwn(state.users, username) ? state.users[username] : undefined;
  if (!user) return undefined;
  const roleNames = [...user.roles, ...user.groups.flatMap((g) => (Object.hasOwn(state.groups, g) ? state.groups[g]!.roles : []))];
  return roleNames.flatMap((r) => (Object.hasOwn(state.roles, r) ? state.roles[r]!.acl : []));
}

/** What a change from `before` to `after` means for connected clients. */
export function changesBetween(before: StoreFile, after: StoreFile): UserChange[] {
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

/** The users a role reaches: directly, or through one of their groups. */
export function usersWithRole(state: StoreFile, role: string): string[] {
  const groups = new Set(Object.entries(state.groups).filter(([, g]) => g.roles.includes(role)).map(([n]) => n));
  return Object.entries(state.users)
    .filter(([, u]) => u.roles.includes(role) || u.groups.some((g) => groups.has(g)))
    .map(([n]) => n);
}

/** The users in a group. */
export function usersInGroup(state: StoreFile, group: string): string[] {
  return Object.entries(state.users).filter(([, u]) => u.groups.includes(group)).map(([n]) => n);
}
