/** Finished deployments in a window, for the service report (deploy success rate, p95 duration). */
import { and, gte, inArray } from "drizzle-orm";
import type { Db } from "../state/db";
import { deployments } from "./deploy.sql";

export interface DeploymentOutcome {
  envId: string;
  kind: "deploy" | "rollback";
  status: "success" | "failed";
  createdAt: string;
  finishedAt: string;
}

/** Succeeded or failed since `since`; cancelled and rejected ones were decisions, not outcomes. */
export function deploymentOutcomesSince(db: Db, since: string): DeploymentOutcome[] {
  return db
    .select({
      envId: deployments.envId,
      kind: deployments.kind,
      status: deployments.status,
      createdAt: deployments.createdAt,
      finishedAt: deployments.finishedAt,
    })
    .from(deployments)
    .where(and(inArray(deployments.status, ["success", "failed"]), gte(deployments.finishedAt, since)))
    .all()
    .flatMap((d) =>
      d.finishedAt && (d.status === "success" || d.status === "failed")
        ? [{ ...d, status: d.status, finishedAt: d.finishedAt }]
        : [],
    );
}
