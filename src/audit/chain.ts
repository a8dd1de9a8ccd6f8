/**
 * The audit hash chain. Each row's hash is an HMAC-SHA256, keyed with a key derived from the host's
 * secret key (0600 in the config dir, not in the state database), over a canonical serialization of
 * the row's stored fields and the previous row's hash. A plain sha256 chain would let anyone able
 * to write the SQLite file edit a row and recompute every later hash; with the key they cannot.
 */
import { createHmac } from "node:crypto";

export const GENESIS_HASH = "0".repeat(64);
const VERSION = "odooops-audit-v1";

/** A row as stored: `details` is the exact JSON text in the column, so any byte changed is detected. */
export type ChainRow = {
  id: string;
  seq: number | null;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  ip: string | null;
  details: string | null;
  prev_hash: string | null;
  hash: string | null;
};

export function rowHash(key: Buffer, row: Omit<ChainRow, "hash">): string {
  const canonical = JSON.stringify([
    VERSION,
    row.seq,
    row.id,
    row.at,
    row.actor,
    row.action,
    row.target,
    row.outcome,
    row.ip,
    row.details,
    row.prev_hash,
  ]);
  return createHmac("sha256", key).update(canonical).digest("hex");
}

export type VerifyResult =
  | { ok: true; rows: number; head: { seq: number; hash: string } | null }
  | { ok: false; rows: number; brokenAt: { id: string; seq: number | null; at: string }; reason: string };

/** Walks rows in `seq` order (unsealed rows last) and names the first one whose link or hash does not hold. */
export function verifyChain(key: Buffer, rows: Iterable<ChainRow>): VerifyResult {
  let expectedSeq = 1;
  let prev = GENESIS_HASH;
  let checked = 0;
  let head: { seq: number; hash: string } | null = null;
  for (const row of rows) {
    const broken = (reason: string): VerifyResult => ({
      ok: false,
      rows: checked,
      brokenAt: { id: row.id, seq: row.seq, at: row.at },
      reason,
    });
    if (row.seq === null || row.hash === null)
      return broken("row is not sealed: it was written around the audit service");
    if (row.seq !== expectedSeq) {
      return broken(
        row.seq > expectedSeq
          ? `row(s) ${expectedSeq}${row.seq - 1 > expectedSeq ? `–${row.seq - 1}` : ""} before it are missing (deleted)`
          : `sequence number ${row.seq} repeats or goes back`,
      );
    }
    if (row.prev_hash !== prev)
      return broken("its link to the previous row does not match (the previous row was changed or removed)");
    if (rowHash(key, row) !== row.hash) return broken("its content does not match its hash (the row was modified)");
    prev = row.hash;
    head = { seq: row.seq, hash: row.hash };
    expectedSeq++;
    checked++;
  }
  return { ok: true, rows: checked, head };
}
