/**
 * Checks on a client's PUBLISH that are not about its bytes (those are in protocol/validate.ts):
 * the broker's own topic namespaces are read-only for clients unless an ACL grants them.
 */
import { allowAllAuthorizer } from '../../auth/index.js';
import { ReasonCode } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';

/**
 * `$SYS/…` is where the broker reports on itself (dashboards and monitoring read it as the
 * broker's word), and `$share/…` names shared subscriptions, never a topic; a client publishing
 * there is refused (5.0: 0x87 Not Authorized; 3.1.1: acknowledged and dropped) unless an ACL is
 * configured — which then decides, since its `#` rules never match `$` topics [3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1].
 */
export function reservedTopicFailure(connection: ClientConnection, topic: string): number | undefined {
  if (topic.charCodeAt(0) !== 0x24) return undefined;
  const isReserved = topic === '$SYS' || topic.startsWith('$SYS/') || topic.startsWith('$share/');
  if (!isReserved || connection.broker.authorizer !== allowAllAuthorizer) return undefined;
  return ReasonCode.NotAuthorized;
}
