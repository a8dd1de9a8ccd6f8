/**
 * The names odooops gives its throwaway copies. Each is a pure function of something recorded
 * before the copy exists (the job id, or the token in the job's params), so after any crash the
 * sweep (sweep.ts) can tell a leftover from a copy a queued or running job still needs — and
 * never mistakes a user's database for one of ours.
 */
import { createHash } from "node:crypto";

/** Database and role of a scratch copy (rehearsal, tests gate, DR test): `odooops_scratch_<tag>`. */
export const SCRATCH_PREFIX = "odooops_scratch_";
/** Directory of a scratch copy (odoo.conf with its password, data dir) inside the env's dir. */
export const SCRATCH_DIR_PREFIX = "scratch-";
/** The ownership-transfer role a clone creates for a moment (db/backup/clone.ts). */
export const XFER_PREFIX = "odooops_xfer_";

export const SCRATCH_PURPOSES = ["rehearse", "tests", "dr-test"] as const;
export type ScratchPurpose = (typeof SCRATCH_PURPOSES)[number];

const SCRATCH_TAG = /^[0-9a-f]{10}$/;
const XFER_NAME = /^odooops_xfer_[0-9a-f]{12}$/;
const REPLACE_TOKEN = /^[a-z0-9]{8}$/;

export function scratchTag(purpose: ScratchPurpose, jobId: string): string {
  return createHash("sha256").update(`${purpose}-${jobId}`).digest("hex").slice(0, 10);
}

/** Every scratch tag the job `jobId` may use. */
export function scratchTagsOf(jobId: string): string[] {
  return SCRATCH_PURPOSES.map((p) => scratchTag(p, jobId));
}

/** The tag of a scratch database/role name, or null when the name is not one of ours. */
export function scratchTagOfName(name: string): string | null {
  if (!name.startsWith(SCRATCH_PREFIX)) return null;
  const tag = name.slice(SCRATCH_PREFIX.length);
  return SCRATCH_TAG.test(tag) ? tag : null;
}

/** The tag of a scratch directory name (`scratch-<tag>`), or null. */
export function scratchTagOfDir(name: string): string | null {
  if (!name.startsWith(SCRATCH_DIR_PREFIX)) return null;
  const tag = name.slice(SCRATCH_DIR_PREFIX.length);
  return SCRATCH_TAG.test(tag) ? tag : null;
}

export function isXferRole(name: string): boolean {
  return XFER_NAME.test(name);
}

/**
 * The token of `<base>_new_<token>` (replace.ts: a restore/clone/import copy of the env whose
 * database base name is `base`), or null.
 */
export function replaceTokenOf(name: string, base: string): string | null {
  const prefix = `${base}_new_`;
  if (!name.startsWith(prefix)) return null;
  const token = name.slice(prefix.length);
  return REPLACE_TOKEN.test(token) ? token : null;
}

/** The replace token of a deploy's pre-deploy restore (deploy/restore.ts): from its deployment id. */
export function deploymentReplaceToken(deploymentId: string): string {
  return createHash("sha256").update(deploymentId).digest("hex").slice(0, 8);
}
