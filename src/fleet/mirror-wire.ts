/**
 * Rows of the state link as they travel (src/fleet/schema.ts): sealed columns go open, and each
 * side seals them with its own SecretBox. An agent needs these secrets to run the env anyway
 * (its database role's password, Odoo's admin password, the repository's password); the channel
 * is pinned TLS with the agent's own credential, and only the envs placed on the agent travel.
 * A project's GitHub webhook secret never travels: no agent step verifies webhooks.
 */
import type { SecretBox } from "../auth/secretbox";
import type { BackupRow } from "../db/backup-job";
import type { DeploymentRow } from "../deploy/records";
import type { Environment, projects } from "../env/env.sql";
import type { EnvironmentWire, ProjectWire } from "./schema";

type ProjectRow = typeof projects.$inferSelect;
export type Columns<R> = Partial<Omit<R, "id">>;

const open = (box: SecretBox, v: string | null) => (v === null ? null : box.open(v));
const seal = (box: SecretBox, v: string | null) => (v === null ? null : box.seal(v));

export function projectToWire(box: SecretBox, row: ProjectRow): ProjectWire {
  const { repoPasswordEnc, accessPasswordEnc, webhookSecretEnc: _never, ...rest } = row;
  return { ...rest, repoPassword: open(box, repoPasswordEnc), accessPassword: open(box, accessPasswordEnc) };
}

export function projectFromWire(box: SecretBox, wire: ProjectWire): ProjectRow {
  const { repoPassword, accessPassword, ...rest } = wire;
  return {
    ...rest,
    repoPasswordEnc: seal(box, repoPassword),
    accessPasswordEnc: seal(box, accessPassword),
    webhookSecretEnc: null,
  };
}

/**
 * A move's hosts stay on the coordinator: an agent sees each env as placed on itself (the
 * lease's slice names its host) and can neither read nor report them.
 */
export function envToWire(box: SecretBox, row: Environment): EnvironmentWire {
  const {
    dbPasswordEnc,
    adminPasswdEnc,
    odooAdminPasswordEnc,
    movingToHostId: _to,
    movedFromHostId: _from,
    ...rest
  } = row;
  return {
    ...rest,
    dbPassword: box.open(dbPasswordEnc),
    adminPasswd: box.open(adminPasswdEnc),
    odooAdminPassword: open(box, odooAdminPasswordEnc),
  };
}

export function envFromWire(box: SecretBox, wire: EnvironmentWire): Environment {
  const { dbPassword, adminPasswd, odooAdminPassword, ...rest } = wire;
  return {
    ...rest,
    movingToHostId: null,
    movedFromHostId: null,
    dbPasswordEnc: box.seal(dbPassword),
    adminPasswdEnc: box.seal(adminPasswd),
    odooAdminPasswordEnc: seal(box, odooAdminPassword),
  };
}

/** Changed env columns, sealed ones opened for the wire. */
export function envColumnsToWire(box: SecretBox, cols: Columns<Environment>): Columns<EnvironmentWire> {
  const {
    dbPasswordEnc,
    adminPasswdEnc,
    odooAdminPasswordEnc,
    movingToHostId: _to,
    movedFromHostId: _from,
    ...rest
  } = cols;
  return {
    ...rest,
    ...(dbPasswordEnc !== undefined && { dbPassword: box.open(dbPasswordEnc) }),
    ...(adminPasswdEnc !== undefined && { adminPasswd: box.open(adminPasswdEnc) }),
    ...(odooAdminPasswordEnc !== undefined && { odooAdminPassword: open(box, odooAdminPasswordEnc) }),
  };
}

/** Changed env columns from the wire, sealed with this side's box. */
export function envColumnsFromWire(box: SecretBox, cols: Columns<EnvironmentWire>): Columns<Environment> {
  const { dbPassword, adminPasswd, odooAdminPassword, ...rest } = cols;
  return {
    ...rest,
    ...(dbPassword !== undefined && { dbPasswordEnc: box.seal(dbPassword) }),
    ...(adminPasswd !== undefined && { adminPasswdEnc: box.seal(adminPasswd) }),
    ...(odooAdminPassword !== undefined && { odooAdminPasswordEnc: seal(box, odooAdminPassword) }),
  };
}

/**
 * The columns of `after` that differ from `before` (all of them when `before` is missing: a row
 * the job inserted), or null when none did.
 */
export function changedColumns<R extends { id: string }>(before: R | undefined, after: R): Columns<R> | null {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) {
    if (k === "id") continue;
    if (!before || JSON.stringify(before[k as keyof R]) !== JSON.stringify(v)) out[k] = v;
  }
  return Object.keys(out).length ? (out as Columns<R>) : null;
}

export type { BackupRow, DeploymentRow, ProjectRow };
