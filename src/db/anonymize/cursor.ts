/**
 * Reading a cursor in batches with the next FETCH already sent while the current batch is
 * handled: the PII check's needles are extracted from the source's values in the daemon (the
 * copy's values come through psql's binary COPY instead: copy-session.ts), and a plain
 * `await FETCH; match; await FETCH` left PostgreSQL idle during every match and the daemon idle
 * during every FETCH.
 *
 * Bun's SQL sends a query only once the event loop turns (measured: `execute()` then synchronous
 * work delays the query by all of that work; one `setImmediate` after `execute()` sends it), so
 * the next FETCH is executed and the loop turned once before `onBatch` runs.
 */
import type { SQL } from "bun";

/** Lets the event loop send what was executed (see above). */
const sendPending = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Declares `name` for `select` (with `params`) in `tx`, hands every batch of at most `batch`
 * rows (as arrays) to `onBatch` (which may query `tx`: its statements queue behind the FETCH
 * already sent), closes it. At most two batches are held at once.
 */
export async function eachBatch(
  tx: SQL,
  cursor: { name: string; select: string; params?: unknown[]; batch: number },
  onBatch: (rows: unknown[][]) => void | Promise<void>,
): Promise<void> {
  const { name, batch } = cursor;
  await tx.unsafe(`DECLARE ${name} NO SCROLL CURSOR FOR ${cursor.select}`, cursor.params ?? []);
  const fetch = () => tx.unsafe(`FETCH ${batch} FROM ${name}`).values().execute() as Promise<unknown[][]>;
  let pending: Promise<unknown[][]> | null = fetch();
  try {
    while (pending) {
      const rows: unknown[][] = await pending;
      pending = rows.length < batch ? null : fetch();
      if (pending) await sendPending();
      await onBatch(rows);
    }
  } catch (e) {
    // A FETCH already sent must settle before the transaction ends (its error is the first one's).
    await pending?.catch(() => undefined);
    throw e;
  }
  await tx.unsafe(`CLOSE ${name}`);
}
