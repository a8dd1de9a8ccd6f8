/**
 * The coordinator's clock: periodic work (backups, certificate renewal, TTL sweeps) as croner
 * jobs in UTC. A tick that is still running when the next one is due is skipped (protect), and a
 * failing tick is logged, never fatal: the daemon keeps serving.
 */
import { Cron } from "croner";
import type { CoordinatorDeps } from "../deps";
import type { Schedule } from "../jobs/schedule";
import { Log } from "../log";
import { errorText } from "../errors";

const log = Log.create("scheduler");

export function startScheduler(schedules: Schedule[], deps: CoordinatorDeps): { stop(): void } {
  const crons = schedules.map(
    (s) =>
      new Cron(s.pattern, { name: s.name, timezone: "UTC", protect: true }, async () => {
        try {
          await s.tick(deps);
        } catch (err) {
          log.error(`scheduled ${s.name} failed`, { error: errorText(err) });
        }
      }),
  );
  if (crons.length > 0)
    log.info("scheduled", Object.fromEntries(crons.map((c) => [c.name ?? "?", c.nextRun()?.toISOString() ?? "never"])));
  return {
    stop() {
      for (const c of crons) c.stop();
    },
  };
}
