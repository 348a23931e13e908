/**
 * Who may connect, publish and subscribe. The broker asks these interfaces; the password-file and
 * ACL-file implementations come with the security issue. Until one is configured, everyone may
 * do everything, and listeners stay on loopback.
 */
export interface ClientIdentity {
  clientId: string;
  username?: string;
  remoteAddress?: string;
}

export interface ConnectCredentials extends ClientIdentity {
  password?: Buffer;
}

/** Reason code for CONNACK: 0 = accepted, or e.g. 0x86 bad user name or password. */
export type AuthenticationResult = { isAccepted: true } | { isAccepted: false; reasonCode: number };

export interface Authenticator {
  authenticate(credentials: ConnectCredentials): Promise<AuthenticationResult> | AuthenticationResult;
}

export interface Authorizer {
  canPublish(client: ClientIdentity, topic: string): boolean;
  canSubscribe(client: ClientIdentity, filter: string): boolean;
}

export const allowAllAuthenticator: Authenticator = {
  authenticate: () => ({ isAccepted: true }),
};

export const allowAllAuthorizer: Authorizer = {
  canPublish: () => true,
  canSubscribe: () => true,
};
