/** `odooops env …` against an in-process API (no agent: jobs stay queued, nothing touches the host). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { totalmem } from "node:os";
import { ConfigSchema } from "../../src/config/schema";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";

let t: Awaited<ReturnType<typeof makeTestApi>>;
const fetchApi = (url: string, init?: RequestInit) => t.fetch(url, init);
const env = () => ({ ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token });
const cli = (...argv: string[]) => runCliWith(argv, { fetch: fetchApi, env: env() });

beforeAll(async () => {
  t = await makeTestApi();
});
afterAll(() => t.cleanup());

describe("env commands", () => {
  test("create --dry-run prints the plan and the steps, creates nothing", async () => {
    const r = await cli("env", "create", "feature/crm-reports", "--tier", "staging", "--dry-run");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"slug": "feature-crm-reports"');
    expect(r.stdout).toContain("2. Provisioning database");
    const json = await cli("env", "create", "x", "--tier", "dev", "--dry-run", "--json");
    expect(JSON.parse(json.stdout).plan.domain).toBe("x.dev.odoo.localhost");
    expect(JSON.parse((await cli("env", "list", "--json")).stdout)).toEqual([]);
  });

  test("create --dry-run on a host smaller than the tier: lowered limits with a note; a request above the host is refused", async () => {
    const hostMb = Math.floor(totalmem() / (1024 * 1024));
    const big = await makeTestApi({ config: ConfigSchema.parse({ tiers: { staging: { memoryMb: 4 * 1_048_576 } } }) });
    try {
      const bigCli = (...argv: string[]) =>
        runCliWith(argv, {
          fetch: (url, init) => big.fetch(url, init),
          env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: big.token },
        });
      const plan = await bigCli("env", "create", "shop", "--tier", "staging", "--dry-run", "--json");
      expect(plan.code).toBe(0);
      const out = JSON.parse(plan.stdout).plan;
      expect(out.notes).toEqual([`tiers.staging.memoryMb 4194304 is above this host's ${hostMb} MiB: using ${hostMb}`]);
      expect(out.resources.memoryMb).toBe(hostMb);
      const human = await bigCli("env", "create", "shop", "--tier", "staging", "--dry-run");
      expect(human.stdout).toContain(
        `"notes": [\n    "tiers.staging.memoryMb 4194304 is above this host's ${hostMb} MiB: using ${hostMb}"\n  ]`,
      );

      const refused = await bigCli("env", "create", "shop", "--tier", "staging", "--memory-mb", "1048576");
      expect(refused).toEqual({
        code: 2,
        stdout: "",
        stderr: `error: memoryMb 1048576 (--memory-mb) is above this host's ${hostMb} MiB\n`,
      });
      expect(JSON.parse((await bigCli("env", "list", "--json")).stdout)).toEqual([]);
    } finally {
      big.cleanup();
    }
  });

  test("create without --wait prints the job id on stdout and how to follow it", async () => {
    const r = await cli("env", "create", "shop", "--tier", "dev", "--branch", "main");
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.stderr).toContain(`odooops jobs wait ${id}`);
    const job = JSON.parse((await cli("jobs", "show", id, "--json")).stdout) as JobView;
    expect(job).toMatchObject({ kind: "env.create", target: "shop", status: "queued" });
  });

  test("a second job on the same env queues behind the first and says so", async () => {
    const r = await cli("env", "destroy", "shop", "--yes");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/queued behind job [0-9a-f-]+ \(env.create on shop, queued\)/);
  });

  test("env staging of tier staging is staging.<domain>, once; that domain given to another env is still refused", async () => {
    expect((await cli("env", "create", "staging", "--tier", "staging")).code).toBe(0);
    expect(JSON.parse((await cli("env", "get", "staging", "--json")).stdout).domain).toBe("staging.odoo.localhost");
    const taken = await cli(
      "env",
      "create",
      "thief",
      "--tier",
      "dev",
      "--domain",
      "staging.odoo.localhost",
      "--dry-run",
    );
    expect(taken).toEqual({
      code: 4,
      stdout: "",
      stderr:
        "error: domain staging.odoo.localhost is already used by environment staging (creating); choose another with --domain\n",
    });
  });

  test("usage errors exit 2, unknown env exits 4, conflicts exit 4", async () => {
    expect((await cli("env", "create", "x", "--tier", "gold")).code).toBe(2);
    expect((await cli("env", "create", "x;rm -rf /", "--tier", "dev")).code).toBe(2);
    expect((await cli("env", "get", "nope")).code).toBe(4);
    const dup = await cli("env", "create", "other", "--tier", "dev", "--branch", "main");
    expect(dup.code).toBe(4);
    expect(dup.stderr).toContain("branch main is already deployed by environment shop");
    expect((await cli("env", "logs", "nope")).code).toBe(4);
  });

  test("destroy without --yes and without a terminal refuses (exit 2) and changes nothing", async () => {
    await cli("env", "create", "keepme", "--tier", "dev");
    const r = await cli("env", "destroy", "keepme");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("pass --yes");
    const jobs = JSON.parse((await cli("jobs", "list", "--json")).stdout) as JobView[];
    expect(jobs.filter((j) => j.target === "keepme").map((j) => j.kind)).toEqual(["env.create"]);
  });
});
