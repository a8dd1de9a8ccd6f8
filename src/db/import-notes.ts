/**
 * What `db import` says about a pg_dump upload, in the job log and in the CLI (kept in a module
 * of its own: the CLI loads it without the server's code). A pg_dump has no filestore, so every
 * attachment Odoo keeps as a file points at nothing until the files are copied in.
 */
export const DUMP_HAS_NO_FILESTORE =
  "a .dump holds the database only, NOT the filestore: attachments stored as files (ir_attachment.store_fname) will be missing until their files are copied into the environment's filestore";

/** An Odoo export zip starts with a zip header; anything else is loaded as a database only. */
export async function looksLikeZip(file: string): Promise<boolean> {
  return (await Bun.file(file).slice(0, 2).text()) === "PK";
}
