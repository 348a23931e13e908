/**
 * Who may connect, publish and subscribe: the interfaces the broker asks. This module's
 * implementations (password file, ACL file, users, JWT, HTTP, certificate, anonymous) are combined
 * into chains by src/security.ts from the config; without authentication a listener stays on
 * loopback unless `auth.allowAnonymous` says otherwise.
 */
export interface ClientIdentity {
  clientId: string;
  username?: string;
  remoteAddress?: string;
}

export interface ConnectCredentials extends ClientIdentity {
  password?: Buffer;
  /** The verified TLS client certificate's CN (or first SAN), when there is one. */
  certificateIdentity?: string;
  /** Index of the listener (in `listeners`) the client came in on, for per-listener chains. */
  listenerIndex?: number;
}

/** Reason code for CONNACK: 0 = accepted, or e.g. 0x86 bad user name or password. */
export type AuthenticationResult = { isAccepted: true } | { isAccepted: false; reasonCode: number };

export interface Authenticator {
  authenticate(credentials: ConnectCredentials): Promise<AuthenticationResult> | AuthenticationResult;
  /** Re-reads its source (SIGHUP); on failure it keeps what it had and rejects. */
  reload?(): Promise<void>;
}

export interface Authorizer {
  canPublish(client: ClientIdentity, topic: string): boolean;
  canSubscribe(client: ClientIdentity, filter: string): boolean;
  /**
   * Checked per delivery: a subscription allowed by a wildcard still cannot read a topic the ACL
   * forbids (as Mosquitto's read check). Omit it when subscribe-time checks suffice.
   */
  canReceive?(client: ClientIdentity, topic: string): boolean;
  /**
   * The same three checks for an authorizer that may have to ask a service: the answer at once
   * when it is at hand (cached), a promise (never rejecting) when it is still to come. The broker
   * asks this, when present, for every PUBLISH, SUBSCRIBE and delivery, and holds that client's
   * later packets (or deliveries) while a promise is pending, so their order is kept.
   */
  authorize?(client: ClientIdentity, check: 'publish' | 'subscribe' | 'receive', topic: string): boolean | Promise<boolean>;
  /** Re-reads its source (SIGHUP); on failure it keeps what it had and rejects. */
  reload?(): Promise<void>;
}

export const allowAllAuthenticator: Authenticator = {
  authenticate: () => ({ isAccepted: true }),
};

export const allowAllAuthorizer: Authorizer = {
  canPublish: () => true,
  canSubscribe: () => true,
};

/** MQTT 5 enhanced authentication (AUTH packet exchange, spec 4.12). */
export interface EnhancedAuthContext {
  clientId: string;
  username?: string;
  remoteAddress?: string;
  /** Index of the listener the client came in on, for per-listener chains. */
  listenerIndex?: number;
  /** True when the client re-authenticates on an established connection. */
  isReauthentication: boolean;
}

export type EnhancedAuthStep =
  /** Send AUTH 0x18 with this data and wait for the client's next AUTH. */
  | { status: 'continue'; data: Buffer }
  /** Done: CONNACK 0x00 (or AUTH 0x00 on re-authentication), optionally with final data. */
  | { status: 'success'; data?: Buffer }
  | { status: 'failure'; reasonCode?: number };

/** One exchange: `step` gets the client's Authentication Data of each CONNECT/AUTH in turn. */
export interface EnhancedAuthExchange {
  step(data: Buffer | undefined): Promise<EnhancedAuthStep> | EnhancedAuthStep;
}

export interface EnhancedAuthenticator {
  /** The Authentication Method name this authenticator answers, e.g. "SCRAM-SHA-256". */
  readonly method: string;
  begin(context: EnhancedAuthContext): EnhancedAuthExchange;
}
