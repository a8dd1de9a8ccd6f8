/**
 * Every path odooops touches, derived from one root. With ODOOOPS_ROOT=<dir> (or --root) all of
 * them live under <dir>, so a test runs a whole host in a temp dir; without it the FHS defaults
 * /etc/odooops and /var/lib/odooops apply.
 */
import { join } from "node:path";

export interface Paths {
  root: string | null;
  configDir: string;
  dataDir: string;
  configYaml: string;
  configToml: string;
  stateDb: string;
  logsDir: string;
  jobLogsDir: string;
  runDir: string;
  /** Plaintext local API token, 0640 root:odooops: the coordinator host's login-free credential. */
  localTokenFile: string;
  /** The URL the running daemon actually listens on (the CLI's default on this host). */
  daemonUrlFile: string;
  adminPasswordFile: string;
  jwtSecretFile: string;
  /** Key for secrets encrypted at rest in state (env database passwords …). */
  secretKeyFile: string;
  /** Public half of the recovery key that encrypts state backups (the private half is never kept here). */
  recoveryPublicKeyFile: string;
  nginxDir: string;
  acmeWebroot: string;
  certsDir: string;
  envsDir: string;
  backupsDir: string;
  gitCacheDir: string;
  /** Scratch space of running jobs (exported source trees …), one dir per job. */
  workDir: string;
}

export function resolvePaths(root?: string | null): Paths {
  const r = root && root.length > 0 ? root : null;
  const configDir = r ? join(r, "etc") : "/etc/odooops";
  const dataDir = r ? r : "/var/lib/odooops";
  const runDir = join(dataDir, "run");
  const logsDir = join(dataDir, "logs");
  return {
    root: r,
    configDir,
    dataDir,
    configYaml: join(configDir, "config.yaml"),
    configToml: join(configDir, "config.toml"),
    stateDb: join(dataDir, "state", "odooops.db"),
    logsDir,
    jobLogsDir: join(logsDir, "jobs"),
    runDir,
    localTokenFile: join(runDir, "local-token"),
    daemonUrlFile: join(runDir, "daemon-url"),
    adminPasswordFile: join(configDir, "admin-password"),
    jwtSecretFile: join(configDir, "jwt-secret"),
    secretKeyFile: join(configDir, "secret.key"),
    recoveryPublicKeyFile: join(configDir, "recovery.pub"),
    nginxDir: join(dataDir, "nginx"),
    acmeWebroot: join(dataDir, "acme-webroot"),
    certsDir: join(dataDir, "certs"),
    envsDir: join(dataDir, "envs"),
    backupsDir: join(dataDir, "backups"),
    gitCacheDir: join(dataDir, "git"),
    workDir: join(dataDir, "work"),
  };
}

export function envDir(paths: Paths, slug: string): string {
  return join(paths.envsDir, slug);
}
