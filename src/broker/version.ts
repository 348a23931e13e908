/** The version reported in $SYS and the admin API (kept in step with package.json by a test). */
export const BROKER_VERSION = '0.1.0';
