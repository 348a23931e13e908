/** Placeholder replaced below. */
export async function runFuzzSoak(_options: { packets: number; seed: number }): Promise<boolean> {
  throw new Error('fuzz soak not written yet');
}
