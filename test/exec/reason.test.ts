/**
 * A failed command's reason in statuses: the tool's sentence plus the meaningful line of the
 * command's output (samples are real stderr of docker, nginx and psql), at most 300 characters.
 */
import { describe, expect, test } from "bun:test";
import { CommandFailed, Conflict } from "../../src/errors";
import { MAX_REASON, meaningfulLine, readableReason } from "../../src/exec/reason";
import { run } from "../../src/exec/run";

const DOCKER_CPUS =
  "docker: Error response from daemon: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available\n\nRun 'docker run --help' for more information";
const DOCKER_PULL = `Unable to find image 'odooops-test/nope:1' locally\ndocker: Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host\n\nRun 'docker run --help' for more information`;
const NGINX_RELOAD = `2026/12/05 01:24:00 [notice] 5991#5991: signal process started\n2026/12/05 01:24:00 [error] 5991#5991: invalid PID number "" in "/run/nginx.pid"`;
const NGINX_T = `nginx: [emerg] unknown directive "lisen" in /etc/nginx/sites-enabled/default:3\nnginx: configuration file /etc/nginx/nginx.conf test failed`;
const PSQL = `psql: error: connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: FATAL:  Peer authentication failed for user "postgres"`;

describe("meaningfulLine", () => {
  test("real stderr samples give the line that says what went wrong, without who said it", () => {
    expect(meaningfulLine(DOCKER_CPUS)).toBe("Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    expect(meaningfulLine(DOCKER_PULL)).toBe(
      `Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host`,
    );
    expect(meaningfulLine(NGINX_RELOAD)).toBe(`invalid PID number "" in "/run/nginx.pid"`);
    expect(meaningfulLine(NGINX_T)).toBe(`unknown directive "lisen" in /etc/nginx/sites-enabled/default:3`);
    expect(meaningfulLine(PSQL)).toBe(
      `connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: FATAL: Peer authentication failed for user "postgres"`,
    );
    expect(meaningfulLine("step 1\nstep 2 done\n")).toBe("step 2 done");
    expect(meaningfulLine("\n\n")).toBeNull();
  });

  test("a Python traceback (Odoo 17): its exception line, not the CRITICAL line that only says it failed", () => {
    const odoo = [
      "2024-07-09 10:00:00,123 7 CRITICAL odoo_shop odoo.service.server: Failed to initialize database `odoo_shop`. ",
      "Traceback (most recent call last):",
      '  File "/usr/lib/python3/dist-packages/odoo/service/server.py", line 1301, in preload_registries',
      "    registry = Registry.new(dbname, update_module=update_module)",
      '  File "/usr/lib/python3/dist-packages/odoo/sql_db.py", line 332, in execute',
      "    res = self._obj.execute(query, params)",
      "psycopg2.errors.UndefinedColumn: column res_partner.x_tier does not exist",
      'LINE 1: SELECT "res_partner"."x_tier" FROM "res_partner"',
      "                              ^",
      "",
    ].join("\n");
    expect(meaningfulLine(odoo)).toBe("psycopg2.errors.UndefinedColumn: column res_partner.x_tier does not exist");
  });
});

describe("readableReason", () => {
  const dockerRun = [
    "docker",
    "run",
    "-d",
    "--name",
    "odooops-shop",
    "--cpus",
    "4",
    "--memory",
    "4096m",
    ...Array.from({ length: 60 }, (_, i) => `--label=odooops.k${i}=v${i}`),
    "odooops-test/odoo:17.0",
  ];

  test("a failed command: program and subcommand, exit code and the meaningful line; no argv", () => {
    expect(readableReason(new CommandFailed(dockerRun, 125, DOCKER_CPUS))).toBe(
      "docker run exited with 125: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
    );
    expect(
      readableReason(
        new CommandFailed(["/usr/sbin/nginx", "-s", "reload", "-c", "/etc/nginx/nginx.conf"], 1, NGINX_RELOAD),
      ),
    ).toBe(`nginx exited with 1: invalid PID number "" in "/run/nginx.pid"`);
  });

  test("the caller's own sentence is kept; a silent command is the sentence alone", () => {
    expect(
      readableReason(
        new CommandFailed(
          ["docker", "build", "."],
          1,
          "error: x missing",
          "docker build of odooops-shop:abc failed (exit 1)",
        ),
      ),
    ).toBe("docker build of odooops-shop:abc failed (exit 1): x missing");
    expect(
      readableReason(
        new CommandFailed(["docker", "network", "inspect", "n"], 1, "", "network n is missing or has no IPv4 subnet"),
      ),
    ).toBe("network n is missing or has no IPv4 subnet");
  });

  test("never longer than 300 characters", () => {
    const r = readableReason(
      new CommandFailed(dockerRun, 125, `docker: Error response from daemon: ${"x".repeat(1000)}`),
    );
    expect(r).toHaveLength(MAX_REASON);
    expect(r).toBe(`docker run exited with 125: ${"x".repeat(MAX_REASON - 29)}…`);
  });

  test("odooops' own messages are kept as written", () => {
    expect(readableReason(new Conflict("environment shop already exists (active, tier dev)"))).toBe(
      "environment shop already exists (active, tier dev)",
    );
    expect(readableReason(new Error("module update failed (exit 1):\nline a\nline b"))).toBe(
      "module update failed (exit 1):\nline a\nline b",
    );
  });

  test("a real docker run above the host's CPUs, through the executor", async () => {
    const ncpu = (await run({ argv: ["docker", "info", "--format", "{{.NCPU}}"] })).stdout.trim();
    let err: unknown;
    try {
      await run({ argv: ["docker", "run", "--rm", "--cpus", "999", "odooops-test/odoo:17.0", "true"] });
    } catch (e) {
      err = e;
    }
    expect(readableReason(err)).toBe(
      `docker run exited with 125: Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`,
    );
  });
});
