/** The parts of one cluster node that its services (routing, adoption, handover) share. */
import type { Broker } from '../broker/index.js';
import type { Logger } from '../observability/index.js';
import type { Engine } from './engine.js';
import type { InboxGate } from './inbox-gate.js';
import type { Liveness } from './liveness.js';
import type { NodeLink } from './node-link.js';
import type { Ownership } from './ownership.js';
import type { RouteTable } from './route-table.js';
import type { ClusterStore } from './session-store.js';

export interface NodeParts {
  readonly nodeId: string;
  readonly engine: Engine;
  readonly store: ClusterStore;
  readonly broker: Broker;
  readonly logger: Logger;
  readonly routes: RouteTable;
  readonly link: NodeLink;
  readonly ownership: Ownership;
  readonly liveness: Liveness;
  /** Started, not fenced: the node may adopt and claim. */
  readonly isServing: () => boolean;
  /**
   * CONNECTs of this node in the middle of claiming a client id (handover.ts), resolving to
   * whether they won: a release request waits for them, and so does a delivery following the
   * session here (peer-router.ts) that arrives before the session is restored.
   */
  readonly claims: Map<string, Promise<boolean>>;
  /**
   * Of those, the ids whose session is still to be restored here from another node (not a clean
   * start): what this node routes meanwhile names them (Delivery.claiming), since it cannot
   * deliver to them itself yet.
   */
  readonly restoring: Set<string>;
  /** Inbox batches are applied through it, in order; a hold makes later ones wait. */
  readonly gate: InboxGate;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
