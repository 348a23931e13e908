/**
 * The authentication chain: entries tried in order, each answering allow, deny or ignore
 * (EMQX's authenticator chain). The first allow or deny decides; when every entry ignores the
 * client, it is refused. An entry that throws is a deny with "server unavailable": a broken
 * backend must never let a client in.
 */
import type { AclRule } from './rules.js';
import type { ConnectCredentials } from './types.js';

export type Verdict =
  | {
      outcome: 'allow';
      /** ACL rules that come with the credential (JWT claims, an HTTP answer). */
      acl?: AclRule[];
      /** Extra facts from the source (an HTTP answer's attributes), kept with the client. */
      attributes?: Record<string, unknown>;
      /** Every publish and subscribe allowed, whatever the authorization chain says. */
      isSuperuser?: boolean;
      /** When the credential stops being valid (a JWT's exp), epoch ms: the client is closed then. */
      expiresAt?: number;
    }
  | { outcome: 'deny'; reasonCode: number; why: string }
  | { outcome: 'ignore' };

export interface AuthenticationEntry {
  /** Its config `type`, for audit lines and metrics. */
  readonly type: string;
  check(credentials: ConnectCredentials): Promise<Verdict> | Verdict;
  reload?(): Promise<void>;
  close?(): Promise<void>;
}

export const REASON_BAD_CREDENTIALS = 0x86;
export const REASON_NOT_AUTHORIZED = 0x87;
export const REASON_SERVER_UNAVAILABLE = 0x88;
export const REASON_BANNED = 0x8a;

export type ChainOutcome = { verdict: Verdict & { outcome: 'allow' | 'deny' }; entry: string };

export class AuthenticationChain {
  constructor(
    readonly entries: readonly AuthenticationEntry[],
    private readonly onEntryError: (entry: string, error: unknown) => void = () => undefined,
  ) {}

  /** Runs the entries in order; `only` restricts them to one type (MQTT 5 enhanced auth). */
  async run(credentials: ConnectCredentials, only?: string): Promise<ChainOutcome> {
    for (const entry of this.entries) {
      if (only !== undefined && entry.type !== only) continue;
      let verdict: Verdict;
      try {
        verdict = await entry.check(credentials);
      } catch (error) {
        this.onEntryError(entry.type, error);
        verdict = { outcome: 'deny', reasonCode: REASON_SERVER_UNAVAILABLE, why: `${entry.type} failed` };
      }
      if (verdict.outcome !== 'ignore') return { verdict, entry: entry.type };
    }
    const reasonCode = credentials.username === undefined ? REASON_NOT_AUTHORIZED : REASON_BAD_CREDENTIALS;
    return { verdict: { outcome: 'deny', reasonCode, why: 'no entry of the chain accepted the client' }, entry: 'chain' };
  }

  has(type: string): boolean {
    return this.entries.some((e) => e.type === type);
  }

  async reload(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.reload?.()));
  }

  async close(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.close?.()));
  }
}
