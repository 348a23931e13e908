/**
 * Users, roles and groups of the built-in user store (the admin API's /users, /roles, /groups):
 * list them, create a user, change a password, disable, enable, delete, assign roles and groups,
 * and write a role's rules. The API never sends a hash, so none can show here. Every change goes
 * through the API, which applies it to connected clients before it answers. main.tsx loads this
 * view on demand, so the first view does not carry it.
 */
import { useState } from 'preact/hooks';
import { ApiError, send, type AclRuleRow, type GroupRow, type RoleRow, type UserRow } from '../api.js';
import { ConfirmButton, ErrorLine, usePoll } from '../ui.js';

type Store = { kind: 'none'; reason: string } | { kind: 'ready'; users: UserRow[]; roles: RoleRow[]; groups: GroupRow[] };

/** The API answers 404 with its reason on all three routes when no chain has `{type: users}`. */
async function loadStore(): Promise<Store> {
  try {
    const [users, roles, groups] = await Promise.all([send<UserRow[]>('GET', 'users'), send<RoleRow[]>('GET', 'roles'), send<GroupRow[]>('GET', 'groups')]);
    return { kind: 'ready', users, roles, groups };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { kind: 'none', reason: err.message };
    throw err;
  }
}

/** "a, b ,c" → ['a', 'b', 'c']; the API checks each name. */
function parseNames(text: string): string[] {
  return text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

const PERMISSIONS = new Set(['allow', 'deny']);
const ACTIONS = new Set(['publish', 'subscribe', 'all']);

/** One rule a line, `allow|deny publish|subscribe|all <topic filter>`; the rest of the line is the topic. */
function parseRules(text: string): AclRuleRow[] {
  const rules: AclRuleRow[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const match = /^(\S+)\s+(\S+)\s+(.+)$/.exec(line);
    if (!match || !PERMISSIONS.has(match[1]!) || !ACTIONS.has(match[2]!)) {
      throw new Error(`line ${i + 1}: write “allow|deny publish|subscribe|all <topic>”`);
    }
    rules.push({ permission: match[1] as AclRuleRow['permission'], action: match[2] as AclRuleRow['action'], topic: match[3]! });
  });
  return rules;
}

const ruleLine = (rule: AclRuleRow): string => `${rule.permission} ${rule.action} ${rule.topic}`;

type Outcome = { text: string; isError: boolean } | undefined;

/** The API's own words, with the status: "Creating dev-1 failed (409): user dev-1 exists". */
function failure(what: string, err: unknown): Outcome {
  const status = err instanceof ApiError ? ` (${err.status})` : '';
  return { text: `${what} failed${status}: ${(err as Error).message}`, isError: true };
}

function Names({ names }: { names: string[] }) {
  return names.length === 0 ? <span class="muted">—</span> : <>{names.join(', ')}</>;
}

function CreateUser({ run }: { run: (what: string, call: () => Promise<unknown>, done: string) => Promise<boolean> }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [roles, setRoles] = useState('');
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const ok = await run(`Creating ${name}`, () => send('POST', 'users', { username: name, password, roles: parseNames(roles) }), `User ${name} created.`);
    if (ok) {
      setName('');
      setRoles('');
    }
    setPassword('');
  };
  return (
    <form class="form-row" id="user-create-form" aria-label="Create a user" onSubmit={(e) => void submit(e)}>
      <label>
        User name
        <input id="user-create-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required autocomplete="off" />
      </label>
      <label>
        Password
        <input id="user-create-password" type="password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} required autocomplete="new-password" />
      </label>
      <label>
        Roles (comma-separated)
        <input id="user-create-roles" value={roles} onInput={(e) => setRoles((e.target as HTMLInputElement).value)} autocomplete="off" />
      </label>
      <button type="submit">Create user</button>
    </form>
  );
}

/** The selected user: roles and groups, and a new password (existing connections stay). */
function EditUser({ user, run }: { user: UserRow; run: (what: string, call: () => Promise<unknown>, done: string) => Promise<boolean> }) {
  const [roles, setRoles] = useState(user.roles.join(', '));
  const [groups, setGroups] = useState(user.groups.join(', '));
  const [password, setPassword] = useState('');
  const path = `users/${encodeURIComponent(user.username)}`;
  const saveGrants = (event: Event): void => {
    event.preventDefault();
    void run(`Changing ${user.username}'s roles`, () => send('PATCH', path, { roles: parseNames(roles), groups: parseNames(groups) }), `Roles and groups of ${user.username} saved.`);
  };
  const savePassword = async (event: Event): Promise<void> => {
    event.preventDefault();
    await run(`Changing ${user.username}'s password`, () => send('PATCH', path, { password }), `Password of ${user.username} changed.`);
    setPassword('');
  };
  return (
    <div class="panel" id="user-edit">
      <h2>
        <code>{user.username}</code>
      </h2>
      <form class="form-row" aria-label={`Roles and groups of ${user.username}`} onSubmit={saveGrants}>
        <label>
          Roles (comma-separated)
          <input id="user-edit-roles" value={roles} onInput={(e) => setRoles((e.target as HTMLInputElement).value)} autocomplete="off" />
        </label>
        <label>
          Groups (comma-separated)
          <input id="user-edit-groups" value={groups} onInput={(e) => setGroups((e.target as HTMLInputElement).value)} autocomplete="off" />
        </label>
        <button type="submit">Save roles</button>
      </form>
      <form class="form-row" aria-label={`Password of ${user.username}`} onSubmit={(e) => void savePassword(e)}>
        <label>
          New password
          <input id="user-edit-password" type="password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} required autocomplete="new-password" />
        </label>
        <button type="submit">Change password</button>
      </form>
      <p class="muted">Disabling or deleting closes the user's connections at once; a password change does not.</p>
    </div>
  );
}

/** A role's rules as lines of text: new, or the one picked for editing. */
function RoleEditor({ role, run, onDone }: { role: RoleRow | undefined; run: (what: string, call: () => Promise<unknown>, done: string) => Promise<boolean>; onDone: () => void }) {
  const [name, setName] = useState(role?.name ?? '');
  const [rules, setRules] = useState(role ? role.acl.map(ruleLine).join('\n') : '');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    let acl: AclRuleRow[];
    try {
      acl = parseRules(rules);
    } catch (err) {
      setProblem((err as Error).message);
      return;
    }
    setProblem(undefined);
    if (await run(`Saving role ${name}`, () => send('PUT', `roles/${encodeURIComponent(name)}`, { acl }), `Role ${name} saved.`)) onDone();
  };
  return (
    <form class="panel stack" id="role-form" aria-label={role ? `Edit role ${role.name}` : 'New role'} onSubmit={(e) => void submit(e)}>
      <h2>{role ? `Edit role ${role.name}` : 'New role'}</h2>
      <label>
        Role name
        <input id="role-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required readOnly={role !== undefined} autocomplete="off" />
      </label>
      <label>
        Rules, one a line: allow|deny publish|subscribe|all topic (%u is the user name, %c the client id)
        <textarea id="role-rules" rows={5} value={rules} onInput={(e) => setRules((e.target as HTMLTextAreaElement).value)} spellcheck={false} />
      </label>
      <ErrorLine error={problem} />
      <span class="confirm">
        <button type="submit">Save role</button>
        {role ? (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        ) : null}
      </span>
    </form>
  );
}

export function UsersView() {
  const { data, error, reload } = usePoll(loadStore, 5000, []);
  const [outcome, setOutcome] = useState<Outcome>(undefined);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [editedRole, setEditedRole] = useState<string | undefined>(undefined);
  // A fresh key empties the new-role form after a save.
  const [roleFormKey, setRoleFormKey] = useState(0);

  /** Runs one API call, says how it went, reloads the lists; true when it succeeded. */
  const run = async (what: string, call: () => Promise<unknown>, done: string): Promise<boolean> => {
    try {
      await call();
      setOutcome({ text: done, isError: false });
      return true;
    } catch (err) {
      setOutcome(failure(what, err));
      return false;
    } finally {
      reload();
    }
  };
  const userPath = (name: string): string => `users/${encodeURIComponent(name)}`;

  if (data?.kind === 'none') {
    return (
      <section aria-labelledby="users-title">
        <h1 id="users-title">Users</h1>
        <p class="notice" id="users-no-store" role="status">
          This broker has no user store, so there are no users, roles or groups to manage here. The admin API says: “{data.reason}”.
        </p>
      </section>
    );
  }
  const user = data?.users.find((u) => u.username === selected);
  const role = data?.roles.find((r) => r.name === editedRole);
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <CreateUser run={run} />
      {outcome && !outcome.isError ? (
        <p class="notice" role="status" id="users-outcome">
          {outcome.text}
        </p>
      ) : null}
      {outcome?.isError ? (
        <p class="error" role="alert" id="users-outcome">
          {outcome.text}
        </p>
      ) : null}
      <ErrorLine error={error} />
      <div class="columns">
        <div class="table-wrap">
          <table id="users-table">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Roles</th>
                <th scope="col">Groups</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data?.users.map((u) => (
                <tr key={u.username} data-username={u.username} class={selected === u.username ? 'selected' : ''}>
                  <td class="id">
                    <button type="button" class="link" aria-label={`Edit ${u.username}`} onClick={() => setSelected(u.username)}>
                      {u.username}
                    </button>
                  </td>
                  <td>
                    <Names names={u.roles} />
                  </td>
                  <td>
                    <Names names={u.groups} />
                  </td>
                  <td>
                    <span class={`badge ${u.isDisabled ? 'bad' : 'ok'}`}>{u.isDisabled ? 'disabled' : 'enabled'}</span>
                  </td>
                  <td>
                    <span class="confirm">
                      {u.isDisabled ? (
                        <button type="button" aria-label={`Enable ${u.username}`} onClick={() => void run(`Enabling ${u.username}`, () => send('PATCH', userPath(u.username), { isDisabled: false }), `User ${u.username} enabled.`)}>
                          Enable
                        </button>
                      ) : (
                        <ConfirmButton label="Disable" confirmLabel="Really disable" name={u.username} onConfirm={() => void run(`Disabling ${u.username}`, () => send('PATCH', userPath(u.username), { isDisabled: true }), `User ${u.username} disabled; its connections were closed.`)} />
                      )}
                      <ConfirmButton
                        label="Delete"
                        confirmLabel="Really delete"
                        name={u.username}
                        onConfirm={() => {
                          if (selected === u.username) setSelected(undefined);
                          void run(`Deleting ${u.username}`, () => send('DELETE', userPath(u.username)), `User ${u.username} deleted.`);
                        }}
                      />
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {data && data.users.length === 0 ? <p class="muted">No users yet.</p> : null}
        </div>
        <div>{user ? <EditUser key={user.username} user={user} run={run} /> : <p class="muted">Select a user to change its roles, groups or password.</p>}</div>
      </div>

      <h2 id="roles-title">Roles</h2>
      <div class="columns">
        <div class="table-wrap">
          <table id="roles-table" aria-labelledby="roles-title">
            <thead>
              <tr>
                <th scope="col">Role</th>
                <th scope="col">Rules</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data?.roles.map((r) => (
                <tr key={r.name} data-role={r.name} class={editedRole === r.name ? 'selected' : ''}>
                  <td class="id">{r.name}</td>
                  <td>
                    {r.acl.length === 0 ? <span class="muted">no rules</span> : null}
                    {r.acl.map((rule, i) => (
                      <div key={i}>
                        <code>{ruleLine(rule)}</code>
                      </div>
                    ))}
                  </td>
                  <td>
                    <span class="confirm">
                      <button type="button" aria-label={`Edit role ${r.name}`} onClick={() => setEditedRole(r.name)}>
                        Edit
                      </button>
                      <ConfirmButton
                        label="Delete role"
                        confirmLabel="Really delete role"
                        name={r.name}
                        onConfirm={() => {
                          if (editedRole === r.name) setEditedRole(undefined);
                          void run(`Deleting role ${r.name}`, () => send('DELETE', `roles/${encodeURIComponent(r.name)}`), `Role ${r.name} deleted.`);
                        }}
                      />
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {data && data.roles.length === 0 ? <p class="muted">No roles yet.</p> : null}
        </div>
        <RoleEditor
          key={role ? `edit:${role.name}` : `new:${roleFormKey}`}
          role={role}
          run={run}
          onDone={() => {
            setEditedRole(undefined);
            setRoleFormKey((k) => k + 1);
          }}
        />
      </div>

      <h2 id="groups-title">Groups</h2>
      <div class="table-wrap">
        <table id="groups-table" aria-labelledby="groups-title">
          <thead>
            <tr>
              <th scope="col">Group</th>
              <th scope="col">Roles</th>
            </tr>
          </thead>
          <tbody>
            {data?.groups.map((g) => (
              <tr key={g.name} data-group={g.name}>
                <td class="id">{g.name}</td>
                <td>
                  <Names names={g.roles} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {data && data.groups.length === 0 ? <p class="muted">{'No groups (PUT /api/v1/groups/<name> with {"roles": [...]} makes one).'}</p> : null}
      </div>
    </section>
  );
}
