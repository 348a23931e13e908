/**
 * The one way the handlers and the send path ask the authorizer: its `authorize` when it has one (an
 * answer that may still be coming from an HTTP service: a promise), else its synchronous checks.
 */
import type { Authorizer, ClientIdentity } from '../auth/index.js';

export function authorize(authorizer: Authorizer, client: ClientIdentity, check: 'publish' | 'subscribe' | 'receive', topic: string): boolean | Promise<boolean> {
  if (authorizer.authorize) return authorizer.authorize(client, check, topic);
  if (check === 'publish') return authorizer.canPublish(client, topic);
  if (check === 'subscribe') return authorizer.canSubscribe(client, topic);
  return authorizer.canReceive ? authorizer.canReceive(client, topic) : true;
}
