/**
 * Admin API routes of the built-in user store: users, roles and groups.
 *   GET/POST /api/v1/users, GET/PATCH/DELETE /api/v1/users/<name>
 *   GET /api/v1/roles, PUT/DELETE /api/v1/roles/<name>   ({acl: [{permission, action, topic}]})
 *   GET /api/v1/groups, PUT/DELETE /api/v1/groups/<name> ({roles: [...]})
 * A change answers once it is written to disk; connected clients feel it at once (the store's
 * change events: see user-revocation.ts). Without a `users` entry in any chain these answer 404.
 */
import { UserStoreError, type UserStore } from '../auth/index.js';
import type { HttpResponse, HttpRoute } from '../observability/index.js';
import type { BrokerAdmin } from './admin.js';

const NO_STORE: HttpResponse = { status: 404, body: { error: 'no user store: add {type: users} to auth.chain' } };

function failure(error: unknown): HttpResponse {
  if (!(error instanceof UserStoreError)) throw error;
  const status = error.code === 'invalid' ? 400 : error.code === 'exists' ? 409 : 404;
  return { status, body: { error: error.message } };
}

function objectBody(body: unknown): Record<string, unknown> | undefined {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}

const BAD_BODY: HttpResponse = { status: 400, body: { error: 'the request body must be a JSON object' } };

export function userAdminRoutes(broker: BrokerAdmin): HttpRoute[] {
  const withStore =
    (handle: (store: UserStore, params: Record<string, string>, body: unknown) => Promise<HttpResponse> | HttpResponse) =>
    async (params: Record<string, string>, _query: URLSearchParams, body?: unknown): Promise<HttpResponse> => {
      const store = broker.userStore;
      if (!store) return NO_STORE;
      try {
        return await handle(store, params, body);
      } catch (error) {
        return failure(error);
      }
    };
  return [
    { method: 'GET', path: /^\/api\/v1\/users$/, handle: withStore((store) => ({ status: 200, body: store.listUsers() })) },
    {
      method: 'POST',
      path: /^\/api\/v1\/users$/,
      handle: withStore(async (store, _params, body) => {
        const input = objectBody(body);
        if (!input) return BAD_BODY;
        return { status: 201, body: await store.createUser(input) };
      }),
    },
    {
      method: 'GET',
      path: /^\/api\/v1\/users\/(?<name>[^/]+)$/,
      handle: withStore((store, { name }) => {
        const user = store.getUser(name!);
        return user ? { status: 200, body: { ...user, acl: store.aclFor(name!) } } : { status: 404, body: { error: `no user ${name}` } };
      }),
    },
    {
      method: 'PATCH',
      path: /^\/api\/v1\/users\/(?<name>[^/]+)$/,
      handle: withStore(async (store, { name }, body) => {
        const input = objectBody(body);
        if (!input) return BAD_BODY;
        const { password, roles, groups, isDisabled, ...rest } = input;
        if (Object.keys(rest).length > 0) return { status: 400, body: { error: `unknown keys: ${Object.keys(rest).join(', ')}` } };
        const patch: Parameters<UserStore['updateUser']>[1] = {};
        if (password !== undefined) patch.password = password as string;
        if (roles !== undefined) patch.roles = roles as string[];
        if (groups !== undefined) patch.groups = groups as string[];
        if (isDisabled !== undefined) patch.isDisabled = isDisabled as boolean;
        return { status: 200, body: await store.updateUser(name!, patch) };
      }),
    },
    {
      method: 'DELETE',
      path: /^\/api\/v1\/users\/(?<name>[^/]+)$/,
      handle: withStore(async (store, { name }) => {
        await store.deleteUser(name!);
        return { status: 200, body: { deleted: name } };
      }),
    },
    { method: 'GET', path: /^\/api\/v1\/roles$/, handle: withStore((store) => ({ status: 200, body: store.listRoles() })) },
    {
      method: 'PUT',
      path: /^\/api\/v1\/roles\/(?<name>[^/]+)$/,
      handle: withStore(async (store, { name }, body) => {
        const input = objectBody(body);
        if (!input) return BAD_BODY;
        await store.setRole(name!, input.acl);
        return { status: 200, body: { name, acl: input.acl } };
      }),
    },
    {
      method: 'DELETE',
      path: /^\/api\/v1\/roles\/(?<name>[^/]+)$/,
      handle: withStore(async (store, { name }) => {
        await store.deleteRole(name!);
        return { status: 200, body: { deleted: name } };
      }),
    },
    { method: 'GET', path: /^\/api\/v1\/groups$/, handle: withStore((store) => ({ status: 200, body: store.listGroups() })) },
    {
      method: 'PUT',
      path: /^\/api\/v1\/groups\/(?<name>[^/]+)$/,
      handle: withStore(async (store, { name }, body) => {
        const input = objectBody(body);
        if (!input) return BAD_BODY;
        await store.setGroup(name!, input.roles);
        return { status: 200, body: { name, roles: input.roles } };
      }),
    },
    {
      method: 'DELETE',
      path: /^\/api\/v1\/groups\/(?<name>[^/]+)$/,
      handle: withStore(async (store, { name }) => {
        await store.deleteGroup(name!);
        return { status: 200, body: { deleted: name } };
      }),
    },
  ];
}
