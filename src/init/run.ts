/**
 * `odooops init` from answers to a running daemon: everything that can fail for a reason the
 * user can fix (answers, S3 probe, coordinator) is checked before anything is written.
 */
import { existsSync, mkdirSync } from "node:fs";
import { SecretBox } from "../auth/secretbox";
import { loadConfig } from "../config/load";
import { ensureRecoveryKey } from "../dr/recovery-key";
import type { Paths } from "../config/paths";
import type { Config } from "../config/schema";
import { Invalid, Unavailable, errorText } from "../errors";
import { apiBaseUrl } from "../doctor/daemon";
import { testS3Target } from "../host/s3";
import { type AdminResult, ensureAdmin, existingUsers } from "./admin";
import {
  type Answers,
  applyFlags,
  checkAnswers,
  currentAnswers,
  type FlagValues,
  type JoinAnswer,
  type Question,
} from "./answers";
import { editConfig, patchesFor, readConfigDocument, writeFileAtomic } from "./config-file";
import { checkHost, checkPrerequisites, installPackages, missingPackages } from "./deps";
import { setupPostgres, type PgSetupResult } from "./pg-apply";
import { detectCluster } from "../doctor/postgres-probe";
import { ADMIN_ROLE } from "./pg-setup";
import { probePostgres } from "../doctor/postgres-probe";
import { flagList } from "./flags";
import { checkCoordinator, readJoin, removeJoin, writeJoin } from "./join";
import { readSecretInput } from "./secret-input";
import { wireNginx, type NginxWiring } from "./nginx";
import { installUnit, planUnit, type UnitResult } from "./systemd";
import { systemdBooted } from "../host/systemd";
import { startServices } from "./services";
import { waitForHealth } from "./verify";
import type { WizardContext } from "./wizard";

export interface Reporter {
  step(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  /** Interactive only: a yes/no question (the install offer). */
  confirm?(message: string): Promise<boolean>;
}

export interface InitInput {
  paths: Paths;
  flags: FlagValues;
  interactive: boolean;
  readStdin(): Promise<string>;
  report: Reporter;
  /** Interactive questions; absent in tests of the flag path. */
  wizard?: (current: Answers, given: Set<Question>, ctx: WizardContext) => Promise<Answers>;
  /** Interactive only: how to reach PostgreSQL when init cannot and may not set it up. */
  askPostgres?: (current: Config["postgres"]) => Promise<Config["postgres"]>;
  /** sd_booted marker, for tests. */
  systemdMarker?: string;
}

export interface InitResult {
  configFile: string;
  /** Config keys this run changed (empty: the file was left as it was). */
  changed: string[];
  prerequisites: { id: string; status: string; message: string; hint?: string }[];
  installed: string[];
  /** Services init started (systemd units, or nginx where systemd is not running). */
  started: string[];
  /** What init did to the local PostgreSQL (or why it did nothing). */
  postgres: { status: string; reason?: string; cluster?: string; done?: string[] };
  s3: "probed" | "unchanged" | "none";
  admin: AdminResult | null;
  unit: UnitResult;
  /** Whether the host's nginx serves odooops' vhosts (null: a coordinator runs no envs). */
  nginx: NginxWiring | null;
  verified: string | null;
  /**
   * The recovery key of state backups (null on an agent). `privateText` only on the run that
   * created it: the one time it exists on this host, to be shown and kept elsewhere.
   */
  recoveryKey: { fingerprint: string; privateText?: string } | null;
}

function loadCurrent(paths: Paths): Config {
  try {
    return loadConfig(paths, { env: {} });
  } catch (e) {
    throw new Invalid(`${errorText(e)}\nfix the file by hand (or move it away), then run init again`);
  }
}

function sameJoin(a: JoinAnswer | null, b: JoinAnswer | null): boolean {
  return a?.url === b?.url && a?.token === b?.token;
}

export async function runInit(input: InitInput): Promise<InitResult> {
  const { paths, flags, report } = input;
  const yes = flags.yes === true;
  if (!yes && !input.interactive) {
    throw new Invalid(
      `init asks questions, but this is not a terminal: pass --yes, plus the flags of what to set (everything else keeps its current value or default):\n${flagList()}`,
    );
  }
  if (paths.root === null && process.getuid?.() !== 0)
    throw new Invalid(`init writes ${paths.configDir} and ${paths.dataDir}: run it as root (sudo odooops init)`);

  const doc = readConfigDocument(paths);
  const current = loadCurrent(paths);
  const currentJoin = readJoin(paths);
  const users = existingUsers(paths);
  const start = currentAnswers(current, currentJoin);
  // A re-run offers the existing admin, not a second one.
  if (users[0]?.role === "admin") start.admin.username = users[0].username;
  const { answers: fromFlags, given } = await applyFlags(start, flags, readSecretInput(input.readStdin));
  const adminExists = (u: string) => users.some((x) => x.username === u);
  const answers =
    input.interactive && !yes && input.wizard
      ? await input.wizard(fromFlags, given, { defaultBackupDir: paths.backupsDir, adminExists })
      : fromFlags;
  checkAnswers(answers);

  mkdirSync(paths.configDir, { recursive: true, mode: 0o750 });
  let box: SecretBox | null = null;
  const openBox = () => (box ??= SecretBox.fromFile(paths.secretKeyFile));
  let edit = editConfig(doc, current, patchesFor(answers), paths, openBox);

  const installed = await installStep(input, edit.config, answers.role, yes);
  // A --root sandbox (tests, trials) never starts the host's services.
  const started =
    answers.role === "coordinator" || paths.root !== null
      ? []
      : await startServices({
          config: edit.config,
          systemd: systemdBooted(input.systemdMarker),
          allow: async () =>
            yes ||
            (input.interactive &&
              (await report.confirm?.("Start docker, nginx and PostgreSQL where they are not running?")) === true),
          step: (m) => report.step(m),
          warn: (m) => report.warn(m),
        });
  const askedFor = answers.postgres;
  const pg = await postgresStep(input, answers, yes);
  if (pg.status === "configured") answers.postgres = pg.postgres;
  // Set up here, or corrected by the person at the wizard: the config says how to log in now.
  // A fresh document: the first edit wrote its values into `doc`, and a value set back to what the
  // file had would otherwise stay as the first edit left it.
  if (answers.postgres !== askedFor)
    edit = editConfig(readConfigDocument(paths), current, patchesFor(answers), paths, openBox);
  const config = edit.config;

  let s3: InitResult["s3"] = "none";
  if (config.backups.s3) {
    const target = config.backups.s3;
    if (edit.changed.some((k) => k.startsWith("backups.s3."))) {
      report.step(`testing S3 target s3://${target.bucket}/${target.prefix}: put, get, list, delete`);
      const r = await testS3Target(target);
      if (!r.ok)
        throw new Unavailable(
          `S3 target s3://${target.bucket}/${target.prefix}${target.endpoint ? ` at ${target.endpoint}` : ""}: ${r.step} failed: ${r.error}\nnothing was saved; correct the --s3-* answers and run init again`,
        );
      s3 = "probed";
    } else s3 = "unchanged";
  }
  const joinChanged = answers.role === "agent" && !sameJoin(answers.join, currentJoin);
  if (joinChanged && answers.join) {
    report.step(`checking the coordinator at ${answers.join.url}`);
    await checkCoordinator(answers.join.url, answers.join.token);
  }

  const fileExists = existsSync(paths.configYaml);
  if (edit.changed.length > 0 || !fileExists) {
    writeFileAtomic(paths.configYaml, edit.text);
    report.step(
      `${fileExists ? "updated" : "wrote"} ${paths.configYaml}${edit.changed.length > 0 ? `: ${edit.changed.join(", ")}` : ""}`,
    );
  } else report.info(`${paths.configYaml} unchanged`);
  if (joinChanged && answers.join) writeJoin(paths, answers.join, openBox());
  if (answers.role !== "agent" && removeJoin(paths))
    report.info("removed the join details (this host is no longer an agent)");

  let admin: AdminResult | null = null;
  if (answers.role !== "agent") {
    admin = await ensureAdmin(paths, config, answers.admin);
    if (admin.action !== "unchanged")
      report.step(
        `${admin.action} API admin ${admin.username}${admin.passwordFile ? ` (password in ${admin.passwordFile}, 0600)` : ""}`,
      );
  }

  let recoveryKey: InitResult["recoveryKey"] = null;
  if (answers.role !== "agent") {
    const k = ensureRecoveryKey(paths.recoveryPublicKeyFile);
    recoveryKey = k.created
      ? { fingerprint: k.fingerprint, privateText: k.privateText }
      : { fingerprint: k.fingerprint };
    if (k.created) report.step(`created recovery key ${k.fingerprint} for state backups (printed at the end, once)`);
  }

  let nginx: NginxWiring | null = null;
  if (answers.role !== "coordinator") {
    nginx = await wireNginx(config, paths);
    if (nginx.status === "included")
      report.step(
        nginx.how === "snippet"
          ? `nginx now includes odooops' vhosts (${nginx.file})`
          : "nginx already includes odooops' vhosts",
      );
    else report.warn(`nginx: ${nginx.reason}`);
  }

  const unit = await installUnit({
    paths,
    config,
    plan: planUnit({
      wanted: flags.systemd !== false,
      booted: systemdBooted(input.systemdMarker),
      unitFileGiven: typeof flags["unit-file"] === "string",
    }),
    file: typeof flags["unit-file"] === "string" ? flags["unit-file"] : undefined,
    binary: typeof flags.binary === "string" ? flags.binary : undefined,
    configChanged: edit.changed.length > 0,
  });
  if (unit.file)
    report.step(
      `systemd unit ${unit.file}${unit.changed ? " written" : " unchanged"}${unit.started ? `, odooops.service ${unit.started}` : ""}`,
    );
  if (unit.note) report.warn(unit.note);

  if (edit.changed.length > 0 && !unit.started && existsSync(paths.daemonUrlFile))
    report.warn("a daemon is running with the old config: restart it to apply the changes");

  const verifyBase =
    typeof flags["verify-url"] === "string" ? flags["verify-url"] : unit.started ? apiBaseUrl(config.listen) : null;
  let verified: string | null = null;
  if (verifyBase) {
    report.step(`waiting for the API at ${verifyBase}`);
    const h = await waitForHealth(verifyBase, {
      hint: unit.started ? "see journalctl -u odooops -e" : "is the daemon running (odooops serve)?",
    });
    verified = verifyBase;
    report.step(`API answers: odooops ${h.version}, role ${h.role}`);
  }
  // Checked again after every change: the one report of how the host is now (nothing printed earlier can contradict it).
  const prerequisites = await afterChecks(input, config, answers.role);
  return {
    configFile: paths.configYaml,
    changed: edit.changed,
    prerequisites,
    installed,
    started,
    postgres: pgSummary(pg),
    s3,
    admin,
    unit,
    nginx,
    verified,
    recoveryKey,
  };
}

/** Installs missing packages when allowed; what the checks say is reported once, after every change. */
async function installStep(input: InitInput, config: Config, role: Answers["role"], yes: boolean): Promise<string[]> {
  if (role === "coordinator") return [];
  const packages = missingPackages(await checkPrerequisites(input.paths, config));
  if (packages.length === 0) return [];
  const allowed =
    input.flags["install-deps"] === true ||
    (!yes &&
      input.interactive &&
      (await input.report.confirm?.(`Install ${packages.join(", ")} with apt-get now?`)) === true);
  if (!allowed) {
    input.report.warn(
      `not installed: ${packages.join(", ")}; run init again with --install-deps, or apt-get install ${packages.join(" ")}`,
    );
    return [];
  }
  input.report.step(`installing ${packages.join(" ")} with apt-get`);
  await installPackages(packages, (line) => input.report.info(line));
  return packages;
}

/**
 * The local Debian cluster, set up for odooops when allowed (--yes or the wizard's consent)
 * unless the config already reaches PostgreSQL as another role, the --pg-* flags say how to,
 * --no-pg-setup, or a --root sandbox (its PostgreSQL is the one its config names).
 */
async function postgresStep(input: InitInput, answers: Answers, yes: boolean): Promise<PgSetupResult> {
  const { flags, report } = input;
  const skipped = (reason: string): PgSetupResult => ({ status: "skipped", reason });
  if (answers.role === "coordinator") return skipped("coordinator");
  if (flags["pg-setup"] === false) return skipped("--no-pg-setup");
  const given =
    input.paths.root !== null
      ? "--root: the config names its own PostgreSQL"
      : ["pg-host", "pg-port", "pg-user", "pg-password-file"].some(
            (f) => typeof flags[f as keyof FlagValues] === "string",
          )
        ? "the --pg-* flags say how to reach PostgreSQL"
        : null;
  if (given !== null) {
    // Told where PostgreSQL is, but it does not answer there: a person at the wizard may correct it.
    if (input.askPostgres && !(await probePostgres(answers.postgres)).ok) {
      answers.postgres = await input.askPostgres(answers.postgres);
      return skipped(`${given}; connection settings corrected in the wizard`);
    }
    return skipped(given);
  }
  const now = await probePostgres(answers.postgres);
  if (now.ok && answers.postgres.user !== ADMIN_ROLE) return skipped(`PostgreSQL answers as ${answers.postgres.user}`);
  const cluster = await detectCluster();
  if (!cluster) {
    const reason = now.ok
      ? "no Debian cluster"
      : `cannot connect to PostgreSQL (${now.error}) and found no Debian cluster (pg_lsclusters)`;
    if (!now.ok && input.askPostgres) answers.postgres = await input.askPostgres(answers.postgres);
    return { status: now.ok ? "skipped" : "manual", reason };
  }
  const what = `PostgreSQL ${cluster.version}/${cluster.name} on port ${cluster.port}`;
  const consent =
    yes ||
    (input.interactive &&
      (await report.confirm?.(
        `Set up ${what} for odooops (its own role ${ADMIN_ROLE}, listen where containers reach it, pg_hba)?`,
      )) === true);
  if (!consent) {
    if (!now.ok && input.askPostgres) answers.postgres = await input.askPostgres(answers.postgres);
    return { status: "skipped", reason: "not allowed" };
  }
  const r = await setupPostgres(cluster, {
    current: answers.postgres,
    resetPassword:
      yes ||
      (input.interactive && (await report.confirm?.(`Role ${ADMIN_ROLE} exists: give it a new password?`)) === true),
    onStep: (m) => report.step(m),
  });
  if (r.status === "manual") report.warn(`PostgreSQL: ${r.reason}`);
  else if (r.status === "configured" && r.done.length === 0) report.info(`${what}: already set up for odooops`);
  return r;
}

function pgSummary(r: PgSetupResult): { status: string; reason?: string; cluster?: string; done?: string[] } {
  return r.status === "configured"
    ? { status: r.status, cluster: `${r.cluster.version}/${r.cluster.name}`, done: r.done }
    : { status: r.status, reason: r.reason };
}

async function afterChecks(
  input: InitInput,
  config: Config,
  role: Answers["role"],
): Promise<InitResult["prerequisites"]> {
  const { report } = input;
  if (role === "coordinator") {
    report.info("coordinator: docker, PostgreSQL and nginx are needed on the agents, not here");
    return [];
  }
  const results = await checkHost(input.paths, config);
  for (const r of results) {
    if (r.status === "pass" || r.status === "skip") report.info(`${r.id}: ${r.message}`);
    else report.warn(`${r.id}: ${r.message}${r.hint ? `\n  fix: ${r.hint}` : ""}`);
  }
  return results.map((r) => ({ id: r.id, status: r.status, message: r.message, ...(r.hint ? { hint: r.hint } : {}) }));
}
