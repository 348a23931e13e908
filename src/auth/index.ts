export * from './types.js';
export { PasswordFileAuthenticator, PasswordFileError, hashPasswordV7, readPasswordFile, type PasswordFileOptions } from './password-file.js';
export { AclFileAuthorizer, AclFileError, parseAcl } from './acl-file.js';
export { runPasswdCommand } from './passwd-command.js';
