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
  // 5.0 PUBACK with remaining length 0 (was ignored).
  '100f00044d5154540502000000000266354000',
  // 5.0 PUBCOMP with its Reason String twice (was accepted).
  '100f00044d515454050200000000026635700c000100081f0001611f000162',
  // 5.0 SUBSCRIBE without its property length (was ignored).
  '100f00044d51545405020000000002663582020001',
  // 3.1.1 SUBSCRIBE without a topic filter (was ignored).
  '100e00044d515454040200000002663482020001',
  // 5.0 PUBLISH with Content Type twice (the last one was forwarded).
  '100f00044d515454050200000000026635320f000174000108030001610300016278',
  // 5.0 PUBLISH with Payload Format Indicator 0xED (was forwarded as 1).
  '100f00044d51545405020000000002663530070001740201ed78',
  // 3.1.1 CONNECT with a user name while its flag is 0 (was accepted).
  '101800044d5154540402000000036634750007736f6d656f6e65',
  // 3.1.1 PINGREQ with a body (was answered).
  '100e00044d5154540402000000026634c00100',
  // 5.0 CONNECT whose will topic contains U+0000 (was CONNACK 0x90).
  '101800044d515454050600000000036635770000027700000178',
  // 5.0 UNSUBSCRIBE with packet identifier 0 (was answered).
  '100f00044d515454050200000000026635a206000000000161',
  // 5.0 PUBLISH with a truncated Message Expiry Interval.
  '100f00044d515454050200000000026635320a00017400020302000078',
  // A CONNECT announcing 200 MB (a buffer of that size was allocated before authentication).
  '108084af5f00044d515454',
  // A PUBLISH as first packet announcing 200 MB (was buffered before being refused).
  '308084af5f000161',
  // Found by `npm run soak -- fuzz --seed 20261201`: a 5.0 UNSUBSCRIBE with no topic filter made
  // the broker try to encode an empty UNSUBACK (mqtt-packet: "Invalid qos vector", an error log).
  '100f00044d5154540502001e0000027531a203000100',
  // The same for SUBSCRIBE (an empty SUBACK), found while fixing the one above.
  '100f00044d5154540502001e00000275318203000100',
];
