/**
 * For tests whose real jobs must date their rows on one UTC day (backup retention keeps the
 * newest backup of each day: two backups a second apart across midnight are two days' dailies).
 */

const DAY_MS = 86_400_000;

/** How long until the next UTC midnight after `now` (ms since the epoch). */
export function msToUtcMidnight(now: number): number {
  return (Math.floor(now / DAY_MS) + 1) * DAY_MS - now;
}

/**
 * Returns at once unless fewer than `marginMs` are left of the UTC day; then waits until just
 * after midnight, so whatever the next `marginMs` of the test dates falls on one day.
 */
export async function clearOfUtcMidnight(marginMs: number): Promise<void> {
  const left = msToUtcMidnight(Date.now());
  if (left < marginMs) await Bun.sleep(left + 1_000);
}
