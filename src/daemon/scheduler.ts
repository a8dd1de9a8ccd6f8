/**
 * The coordinator's clock: periodic work (backups, certificate renewal, TTL sweeps) as croner
 * jobs in UTC. A tick that is still running when the next one is due is skipped (protect), and a
 * failing tick is logged, never fatal: the daemon keeps serving. stop() waits for running ticks.
 */
import { Cron } from "croner";
import type { CoordinatorDeps } from "../deps";
import type { Schedule } from "../jobs/schedule";
import { Log } from "../log";
import { errorText } from "../errors";

const log = Log.create("scheduler");

export function startScheduler(schedules: Schedule[], deps: CoordinatorDeps): { stop(): Promise<void> } {
  // Ticks still running when the daemon stops: it waits for them before it closes the state.
  const running = new Set<Promise<void>>();
  const crons = schedules.map(
    (s) =>
      new Cron(s.pattern, { name: s.name, timezone: "UTC", protect: true }, async () => {
        const tick = (async () => {
          try {
            await s.tick(deps);
          } catch (err) {
            log.error(`scheduled ${s.name} failed`, { error: errorText(err) });
          }
        })();
        running.add(tick);
        await tick;
        running.delete(tick);
      }),
  );
  if (crons.length > 0)
    log.info("scheduled", Object.fromEntries(crons.map((c) => [c.name ?? "?", c.nextRun()?.toISOString() ?? "never"])));
  return {
    /** No tick starts after this; resolves once the running ones have ended. */
    async stop() {
      for (const c of crons) c.stop();
      await Promise.all(running);
    },
  };
}
