/** Small authentication entries: the password file, a verified client certificate, anonymous. */
import { REASON_BAD_CREDENTIALS, type AuthenticationEntry, type Verdict } from './chain.js';
import type { PasswordFileAuthenticator } from './password-file.js';
import type { ConnectCredentials } from './types.js';

/** A user in the file with the right password: allow; wrong password: deny; not in the file: ignore. */
export function passwordFileEntry(file: PasswordFileAuthenticator): AuthenticationEntry {
  return {
    type: 'passwordFile',
    check(credentials: ConnectCredentials): Verdict {
      if (credentials.username === undefined) return { outcome: 'ignore' };
      const result = file.verifyUser(credentials.username, credentials.password);
      if (result === 'valid') return { outcome: 'allow' };
      if (result === 'invalid') return { outcome: 'deny', reasonCode: REASON_BAD_CREDENTIALS, why: 'wrong password' };
      return { outcome: 'ignore' };
    },
    reload: () => file.reload(),
  };
}

/**
 * mTLS: a client whose TLS certificate the listener verified is allowed; when it also gives a
 * user name, that name must be the certificate's identity (CN, else first SAN).
 */
export const certificateEntry: AuthenticationEntry = {
  type: 'certificate',
  check(credentials: ConnectCredentials): Verdict {
    const identity = credentials.certificateIdentity;
    if (identity === undefined) return { outcome: 'ignore' };
    if (credentials.username !== undefined && credentials.username !== identity) {
      return { outcome: 'deny', reasonCode: REASON_BAD_CREDENTIALS, why: 'user name differs from the certificate identity' };
    }
    return { outcome: 'allow' };
  },
};

/** Clients that give no user name (and no password) are allowed: for loopback listeners. */
export const anonymousEntry: AuthenticationEntry = {
  type: 'anonymous',
  check(credentials: ConnectCredentials): Verdict {
    return credentials.username === undefined && credentials.password === undefined ? { outcome: 'allow' } : { outcome: 'ignore' };
  },
};
