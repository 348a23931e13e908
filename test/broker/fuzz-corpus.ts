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
  // Found by `npm run soak -- fuzz --seed 20261201`: a 5.0 UNSUBSCRIBE with no topic filter made
  // the broker try to encode an empty UNSUBACK (mqtt-packet: "Invalid qos vector", an error log).
  '100f00044d5154540502001e0000027531a203000100',
  // The same for SUBSCRIBE (an empty SUBACK), found while fixing the one above.
  '100f00044d5154540502001e00000275318203000100',
];
