/**
 * The Users view's forms: create a user, change a user's roles, groups or password, write a
 * role's rules (one a line, parsed here before they go to the API). Every field row is one
 * TextField; users.tsx lays the forms out and runs their API calls.
 */
import { useState } from 'preact/hooks';
import { send, type AclRuleRow, type RoleRow, type UserRow } from '../api.js';
import { ErrorLine } from '../ui.js';

/** Runs one API call, says how it went, reloads the lists; true when it succeeded (users.tsx). */
export type Run = (what: string, call: () => Promise<unknown>, done: string) => Promise<boolean>;

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

export const ruleLine = (rule: AclRuleRow): string => `${rule.permission} ${rule.action} ${rule.topic}`;

/** One labelled input of a form row; the id is what its label, the tests and the page's CSS find it by. */
function TextField({ label, id, value, onValue, isPassword, required, readOnly, autocomplete = 'off' }: { label: string; id: string; value: string; onValue: (value: string) => void; isPassword?: boolean; required?: boolean; readOnly?: boolean; autocomplete?: string }) {
  const attributes = { id, value, onInput: (e: Event) => onValue((e.target as HTMLInputElement).value), required, readOnly, autocomplete };
  return (
    <label>
      {label}
      {isPassword ? <input type="password" {...attributes} /> : <input {...attributes} />}
    </label>
  );
}

export function CreateUser({ run }: { run: Run }) {
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
      <TextField label="User name" id="user-create-name" value={name} onValue={setName} required />
      <TextField label="Password" id="user-create-password" isPassword value={password} onValue={setPassword} required autocomplete="new-password" />
      <TextField label="Roles (comma-separated)" id="user-create-roles" value={roles} onValue={setRoles} />
      <button type="submit">Create user</button>
    </form>
  );
}

/** The selected user: roles and groups, and a new password (existing connections stay). */
export function EditUser({ user, run }: { user: UserRow; run: Run }) {
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
        <TextField label="Roles (comma-separated)" id="user-edit-roles" value={roles} onValue={setRoles} />
        <TextField label="Groups (comma-separated)" id="user-edit-groups" value={groups} onValue={setGroups} />
        <button type="submit">Save roles</button>
      </form>
      <form class="form-row" aria-label={`Password of ${user.username}`} onSubmit={(e) => void savePassword(e)}>
        <TextField label="New password" id="user-edit-password" isPassword value={password} onValue={setPassword} required autocomplete="new-password" />
        <button type="submit">Change password</button>
      </form>
      <p class="muted">Disabling or deleting closes the user's connections at once; a password change does not.</p>
    </div>
  );
}

/** A role's rules as lines of text: new, or the one picked for editing. */
export function RoleEditor({ role, run, onDone }: { role: RoleRow | undefined; run: Run; onDone: () => void }) {
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
      <TextField label="Role name" id="role-name" value={name} onValue={setName} required readOnly={role !== undefined} />
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
