/**
 * Users, roles and groups of the built-in user store (the admin API's /users, /roles, /groups):
 * list them, create a user, change a password, disable, enable, delete, assign roles and groups,
 * and write a role's rules. The API never sends a hash, so none can show here. Every change goes
 * through the API, which applies it to connected clients before it answers. main.tsx loads this
 * view on demand, so the first view does not carry it.
 */
import { useState } from 'preact/hooks';
import { ApiError, send, type GroupRow, type RoleRow, type UserRow } from '../api.js';
import { ConfirmButton, ErrorLine, usePoll } from '../ui.js';
import { CreateUser, EditUser, RoleEditor, ruleLine, type Run } from './user-forms.js';

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

type Outcome = { text: string; isError: boolean } | undefined;

/** The API's own words, with the status: "Creating dev-1 failed (409): user dev-1 exists". */
function failure(what: string, err: unknown): Outcome {
  const status = err instanceof ApiError ? ` (${err.status})` : '';
  return { text: `${what} failed${status}: ${(err as Error).message}`, isError: true };
}

/** A table's column headings; the last, unnamed on screen, holds each row's buttons. */
function Head({ columns, hasActions = false }: { columns: string[]; hasActions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((column) => (
          <th key={column} scope="col">
            {column}
          </th>
        ))}
        {hasActions ? (
          <th scope="col">
            <span class="sr-only">Actions</span>
          </th>
        ) : null}
      </tr>
    </thead>
  );
}

function Names({ names }: { names: string[] }) {
  return names.length === 0 ? <span class="muted">—</span> : <>{names.join(', ')}</>;
}

export function UsersView() {
  const { data, error, reload } = usePoll(loadStore, 5000, []);
  const [outcome, setOutcome] = useState<Outcome>(undefined);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [editedRole, setEditedRole] = useState<string | undefined>(undefined);
  // A fresh key empties the new-role form after a save.
  const [roleFormKey, setRoleFormKey] = useState(0);

  /** Runs one API call, says how it went, reloads the lists; true when it succeeded. */
  const run: Run = async (what, call, done) => {
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
            <Head columns={['User', 'Roles', 'Groups', 'State']} hasActions />
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
            <Head columns={['Role', 'Rules']} hasActions />
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
          <Head columns={['Group', 'Roles']} />
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
