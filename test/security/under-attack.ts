/**
 * Runs an attack request while a probe request polls the same in-process server, and reports what a
 * client would have felt: the slowest probe answer and the growth of resident memory. The server runs in
 * the test's process, so a blocked event loop delays the probe too.
 */
import type { ApiResponse } from '../support/api-client';

export interface AttackOutcome {
  res: ApiResponse;
  slowestProbeMs: number;
  probes: number;
  rssGrowthMb: number;
}

export async function underAttack(
  probe: () => Promise<unknown>,
  attack: () => Promise<ApiResponse>,
): Promise<AttackOutcome> {
  const rss0 = process.memoryUsage().rss;
  let slowestProbeMs = 0;
  let probes = 0;
  let done = false;
  const probing = (async () => {
    while (!done) {
      const start = Date.now();
      await probe();
      slowestProbeMs = Math.max(slowestProbeMs, Date.now() - start);
      probes++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  let res: ApiResponse;
  try {
    res = await attack();
  } finally {
    // The probe under way when the attack ends still counts: it was sent while the attack ran.
    done = true;
    await probing;
  }
  return { res, slowestProbeMs, probes, rssGrowthMb: (process.memoryUsage().rss - rss0) / 1e6 };
}

/** The server answered probes during the attack, each within `responsiveMs`, and memory stayed bounded. */
export function expectBounded(outcome: AttackOutcome, responsiveMs: number, rssGrowthMb: number): void {
  expect(outcome.probes).toBeGreaterThan(0);
  expect(outcome.slowestProbeMs).toBeLessThan(responsiveMs);
  expect(outcome.rssGrowthMb).toBeLessThan(rssGrowthMb);
}
