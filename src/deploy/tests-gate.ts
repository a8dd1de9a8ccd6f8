/**
 * The `tests` gate on a throwaway role + database: the repository's addon tests
 * (`-i … --test-tags /mod,…`), then the policy's `command`, if any, in the built image against the
 * same database (the addons installed), with libpq's PG* variables and Odoo's conf. Never the
 * env's credentials: test code must not reach the live database.
 */
import { runOdooOnce } from "../env/odoo-once";
import { CONTAINER_CONF, CONTAINER_DATA, envResources } from "../env/resources";
import type { Environment } from "../env/env.sql";
import type { Deps } from "../deps";
import { runGateCommand } from "./gate-command";
import { withScratchDatabase } from "./scratch";

interface Io {
  log(line: string): void;
  signal: AbortSignal;
}

/**
 * Only the repository's modules' tests: without `--test-tags`, `--test-enable` tests every module
 * installed or updated in the run (`odoo/modules/loading.py` `load_module_graph`), i.e. `base`
 * and every dependency — thousands of core tests on real Odoo, with failures unrelated to the
 * repository. `/mod` selects that module's standard tests (`odoo/tests/tag_selector.py`); the
 * dependencies are still installed by `-i`, without tests. `--test-tags` alone enables tests.
 */
export function testsGateArgs(modules: string[]): string[] {
  return ["-i", modules.join(","), "--test-tags", modules.map((m) => `/${m}`).join(",")];
}

/** The failure (with the output that explains it), or null when every test passed. */
export async function runTestsGate(
  deps: Deps,
  env: Environment,
  image: string,
  modules: string[],
  command: string[] | null,
  jobId: string,
  io: Io,
): Promise<string | null> {
  const r = envResources(env, deps);
  return withScratchDatabase(deps, env, { purpose: "tests", jobId, log: io.log }, async (s) => {
    if (modules.length > 0) {
      const result = await runOdooOnce(deps, env, {
        image,
        name: `${r.initContainer}-tests`,
        network: s.network,
        confFile: s.confFile,
        dataDir: s.dataDir,
        dbName: s.login.name,
        args: testsGateArgs(modules),
        log: io.log,
        signal: io.signal,
      });
      if (result.exitCode !== 0)
        return `addon tests failed (exit ${result.exitCode}); the running release is untouched:\n${result.failure}`;
    }
    if (!command) return null;
    io.log(`tests command: ${JSON.stringify(command)}`);
    const { postgres } = deps.config;
    const result = await runGateCommand(deps, env, {
      image,
      name: `${r.initContainer}-tests-cmd`,
      network: s.network,
      command,
      env: {
        PGHOST: postgres.containerHost,
        PGPORT: String(postgres.port),
        PGDATABASE: s.login.name,
        PGUSER: s.login.user,
        ODOO_RC: CONTAINER_CONF,
      },
      secrets: { PGPASSWORD: s.login.password },
      mounts: [
        { source: s.dataDir, target: CONTAINER_DATA },
        { source: s.confFile, target: CONTAINER_CONF, readonly: true },
      ],
      log: io.log,
      signal: io.signal,
    });
    if (result.exitCode !== 0)
      return `tests command failed (exit ${result.exitCode}); the running release is untouched:\n${result.failure}`;
    return null;
  });
}
