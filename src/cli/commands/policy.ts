/** `odooops policy show|validate`: the daemon computes, this renders. */
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { stringify } from "yaml";
import { Invalid, errnoText } from "../../errors";
import type { EffectivePolicyView } from "../../policy/view";
import { client, type CliIo } from "../io";
import { storageQuotaText } from "../storage-quota";
import { AlreadyReported, printJson } from "../output";

const POLICY_FILE = ".odooops/policies.yaml";

function showEnv(io: CliIo, e: NonNullable<EffectivePolicyView["env"]>): void {
  const g = e.gates;
  const req = (r: boolean) => (r ? "required" : "optional");
  const lines = [
    `env ${e.name} (tier ${e.tier})`,
    `  tests      ${g.tests.run ? `${req(g.tests.required)}${g.tests.command ? `, then ${JSON.stringify(g.tests.command)}` : ""}` : "off"}`,
    `  migrations ${g.migrations.run ? `${req(g.migrations.required)} rehearsal on a ${g.migrations.neutralize ? "neutralized " : ""}copy${g.migrations.sizeCapped ? " (skipped above deploy.rehearseMaxDbMb)" : ""}` : "off"}`,
    `  approval   ${g.approval ? `${req(g.approval.required)}, timeout ${g.approval.timeoutSec} s` : "none"}`,
    `  smoke      ${g.smoke ? `${req(g.smoke.required)}: ${JSON.stringify(g.smoke.command)}` : "none"}`,
    `  quota      ${
      Object.entries(e.quota)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "none"
    }`,
    `  limits     workers ${e.limits.workers}, cpus ${e.limits.cpus}, memory ${e.limits.memoryMb} MiB`,
    `  storage    ${storageQuotaText(e.storage)}`,
    `  ttl        ${e.ttl ?? "none"}`,
  ];
  io.stdout(`${lines.join("\n")}\n`);
}

function readPolicyFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new Invalid(`cannot read ${path}: ${errnoText(e)}`);
  }
}

export function policyCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "policy",
      description: "Policies: .odooops/policies.yaml (branch mappings, health gates, quotas, TTLs)",
    },
    subCommands: {
      show: defineCommand({
        meta: {
          name: "show",
          description: "The effective policy of a project; with --env the gates, quota and TTL of its tier",
        },
        args: {
          project: { type: "string", description: "project (default: default, or the env's)" },
          env: { type: "string", description: "an environment: what applies to its tier" },
        },
        async run({ args }) {
          const query = { project: args.project || undefined, env: args.env || undefined };
          const p = await client(io).get("/policy", { query });
          if (io.globals.json) return printJson(io, p);
          io.stdout(
            `# project ${p.project}: ${p.source === "repo" ? `${POLICY_FILE} at ${p.commit?.slice(0, 12) ?? "?"}` : "the server default (no deploy has read a policies file)"}\n`,
          );
          if (p.env) return showEnv(io, p.env);
          io.stdout(stringify(p.policy));
        },
      }),
      validate: defineCommand({
        meta: {
          name: "validate",
          description: `Check a policies file (default ${POLICY_FILE} here): exit 0 when valid, 1 with every problem`,
        },
        args: { file: { type: "string", description: `the file to check (default ${POLICY_FILE})` } },
        async run({ args }) {
          const file = args.file ?? POLICY_FILE;
          const v = await client(io).post("/policy/validate", { body: { text: readPolicyFile(file), file } });
          if (io.globals.json) printJson(io, v);
          else if (v.ok) io.stdout(`${file}: valid\n`);
          else io.stderr(`${v.problems.join("\n")}\n`);
          if (!v.ok) throw new AlreadyReported(`${file}: ${v.problems.length} problem(s)`);
        },
      }),
    },
  });
}
