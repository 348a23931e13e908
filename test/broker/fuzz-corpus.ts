/**
 * Inputs that once broke (or nearly broke) something, as hex, replayed by fuzz.test.ts before the
 * random run. Add any new finding here with a line saying what it broke.
 */
export const REGRESSION_CORPUS: readonly string[] = [
  // CONNECT 3.1.1 with CleanSession=0 and an empty client id (mqtt-packet refuses to encode it).
  '100c00044d5154540400000000000000',
  // Unsupported protocol level 6.
  '100d00044d51545406020000000161',
  // PUBLISH announcing 256 MiB.
  '30ffffff7f00016100',
];
