/**
 * `odooops deploy <env>` and its views: `deploy list <env>`, `deploy show <id>`, `deploy logs <id>`.
 * One command with a verb-or-env first argument (citty subcommands cannot sit beside a
 * positional), so `list`, `show` and `logs` cannot be used as environment names here.
 */
import { defineCommand } from "citty";
import { describeGates } from "../../deploy/describe";
import type { DeployPlan, DeploymentView } from "../../deploy/schema";
import { Invalid } from "../../errors";
import type { JobView } from "../../jobs/view";
import { client, type CliIo } from "../io";
import { formatDuration, note, printJson, printTable } from "../output";
import { afterEnqueue, printJobLog } from "./jobs";

const VIEWS = ["list", "show", "logs", "approve", "reject"] as const;

export function showPlan(io: CliIo, p: DeployPlan): void {
  const lines = [
    `deploy ${p.env}: ${p.commit.slice(0, 12)}${p.branch ? ` (head of ${p.branch})` : ""} from ${p.repo}`,
    `  image    ${p.image.action === "reuse" ? "reuse" : "build"} ${p.image.tag}`,
    `  tests    ${p.tests.run ? (p.tests.modules.length > 0 ? `run for ${p.tests.modules.join(", ")} on a throwaway database` : "none (no addons)") : "off"}`,
    `  gates    ${describeGates(p.gates)}${p.gates.source === "repo" ? " (.odooops/policies.yaml)" : " (server default)"}`,
    `  backup   ${p.backup ? "pre-deploy backup of the database and filestore" : "none (not production)"}`,
    ...(p.modules.update.length + p.modules.install.length === 0
      ? ["  modules  no changes: the database is not touched"]
      : []),
    ...p.modules.update.map(
      (u) => `  update   ${u.name} ${u.from ?? "-"} → ${u.to}${u.reason === "content" ? " (content changed)" : ""}`,
    ),
    ...p.modules.install.map((m) => `  install  ${m}`),
    `  switch   ${p.switch.from ?? "(nothing serving)"} → release ${p.switch.toRelease}, health-gated, then drain and stop the old one`,
  ];
  io.stdout(`${lines.join("\n")}\n`);
}

export function showDeployment(io: CliIo, d: DeploymentView): void {
  const timings = Object.entries(d.stepTimings)
    .map(([k, ms]) => `${k} ${formatDuration(ms)}`)
    .join(", ");
  const rows: [string, string][] = [
    ["id", d.id],
    ["env", `${d.env} release ${d.release}${d.current ? " (serving)" : ""}`],
    ["kind", d.kind === "rollback" ? `rollback to ${d.rollbackOf ?? "?"}` : "deploy"],
    ["status", d.status],
    ["commit", d.commit ?? "-"],
    ["image", d.image ?? "-"],
    ["updated", d.modulesUpdated.map((u) => `${u.name} ${u.from ?? "-"}→${u.to}`).join(", ") || "-"],
    ["installed", d.modulesInstalled.join(", ") || "-"],
    ["backup", d.backupId ?? "-"],
    ["gates", d.gates ? describeGates(d.gates) : "-"],
    ...(d.approval
      ? ([
          [
            "approval",
            d.approval.decision
              ? `${d.approval.decision.replace("_", " ")}${d.approval.by ? ` by ${d.approval.by}` : ""}${d.approval.reason ? `: ${d.approval.reason}` : ""}`
              : `waiting until ${d.approval.deadline ?? "?"}: odooops deploy approve|reject ${d.id}`,
          ],
        ] as [string, string][])
      : []),
    ["timings", timings || "-"],
    ["created", `${d.createdAt} by ${d.createdBy ?? "-"}`],
    ...(d.error ? ([["error", d.error]] as [string, string][]) : []),
    ["log", d.jobId ? `odooops jobs logs ${d.jobId}` : "-"],
  ];
  for (const [k, v] of rows) io.stdout(`${k.padEnd(9)} ${v}\n`);
}

export function deploymentTable(io: CliIo, list: DeploymentView[]): void {
  printTable(
    io,
    list.map((d) => ({
      ...d,
      commit: d.commit?.slice(0, 12) ?? null,
      serving: d.current ? "*" : "",
      kind: d.kind === "rollback" ? "rollback" : "deploy",
    })),
    [
      { key: "serving", label: "" },
      { key: "release", label: "release" },
      { key: "id", label: "id" },
      { key: "kind", label: "kind" },
      { key: "status", label: "status" },
      { key: "commit", label: "commit" },
      { key: "createdAt", label: "created" },
      { key: "createdBy", label: "by" },
    ],
  );
}

/** One deploy per env at a time: when another deployment holds the env, say which commit and since when. */
async function explainLock(io: CliIo, env: string, job: JobView): Promise<void> {
  const holder = job.blockedBy;
  if (!holder || (holder.kind !== "deploy" && holder.kind !== "rollback")) return;
  const recent = await client(io).get("/environments/{name}/deployments", {
    params: { name: env },
    query: { limit: 20 },
  });
  const d = recent.find((x) => x.jobId === holder.id);
  if (d)
    note(
      io,
      `${env} is locked by ${d.kind} ${d.id} of ${d.commit?.slice(0, 12) ?? "a commit not resolved yet"} (${holder.status}${holder.startedAt ? ` since ${holder.startedAt}` : ""}, by ${d.createdBy ?? "-"})`,
    );
}

export function deployCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "deploy",
      description:
        "Deploy a commit to an environment (or: deploy list <env> | show <id> | logs <id> | approve <id> | reject <id>)",
    },
    args: {
      target: {
        type: "positional",
        required: true,
        description: "environment name, or list / show / logs / approve / reject",
      },
      id: {
        type: "positional",
        required: false,
        description: "with list: the environment; with show/logs/approve/reject: the deployment id",
      },
      sha: { type: "string", description: "commit to deploy (default: head of the env's branch)" },
      branch: { type: "string", description: "branch whose head to deploy" },
      wait: { type: "boolean", description: "follow the job and render its steps until it ends" },
      "dry-run": { type: "boolean", description: "print the full plan and change nothing" },
      follow: { type: "boolean", alias: "f", description: "with logs: follow until the deployment ends" },
      limit: { type: "string", default: "20", description: "with list: at most this many (1-1000)" },
      reason: {
        type: "string",
        description: "with approve/reject: why (recorded on the deployment and in the audit log)",
      },
    },
    async run({ args }) {
      const c = client(io);
      const view = (VIEWS as readonly string[]).includes(args.target) ? args.target : null;
      if (view) {
        if (!args.id)
          throw new Invalid(`odooops deploy ${view} needs ${view === "list" ? "an environment" : "a deployment id"}`);
        if (view === "list") {
          const limit = Number(args.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new Invalid("--limit must be 1-1000");
          const list = await c.get("/environments/{name}/deployments", { params: { name: args.id }, query: { limit } });
          return io.globals.json ? printJson(io, list) : deploymentTable(io, list);
        }
        if (view === "approve" || view === "reject") {
          const decided = await c.post(`/deployments/{id}/${view}`, {
            params: { id: args.id },
            body: args.reason ? { reason: args.reason } : {},
          });
          if (io.globals.json) return printJson(io, decided);
          return note(
            io,
            `deployment ${decided.id} ${view === "approve" ? "approved: it continues (backup, migration, switch)" : "rejected: it stops and the serving release stays"}`,
          );
        }
        const d = await c.get("/deployments/{id}", { params: { id: args.id } });
        if (view === "show") return io.globals.json ? printJson(io, d) : showDeployment(io, d);
        if (!d.jobId) throw new Invalid(`deployment ${d.id} has no job log`);
        return printJobLog(io, d.jobId, args.follow === true);
      }
      if (args.id) throw new Invalid(`unexpected argument ${JSON.stringify(args.id)}; use --sha or --branch`);
      const body = {
        ...(args.sha ? { sha: args.sha } : {}),
        ...(args.branch ? { branch: args.branch } : {}),
        ...(args["dry-run"] ? { dryRun: true } : {}),
      };
      const out = await c.post("/environments/{name}/deployments", { params: { name: args.target }, body });
      if (out.dryRun) return io.globals.json ? printJson(io, out.plan) : showPlan(io, out.plan);
      note(io, `deploying to ${args.target}: deployment ${out.deployment.id} (release ${out.deployment.release})`);
      await explainLock(io, args.target, out.job);
      await afterEnqueue(io, out.job, args.wait === true);
    },
  });
}
