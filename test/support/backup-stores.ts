/**
 * What a backup test runs against: a private PostgreSQL cluster with an admin connection, a
 * private s3rver and a temp root for the host's files (filestores, backup dirs, secrets).
 */
import type { SQL } from "bun";
import type { PgAdmin } from "../../src/db/backup/commands";
import { pgConnect } from "../../src/host/postgres";
import { startPostgres, type TestPostgres } from "./postgres";
import { startS3, type TestS3 } from "./s3";
import { makeTempDir, removeTempDir } from "./tmp";

export interface BackupStores {
  pg: TestPostgres;
  s3: TestS3;
  conn: PgAdmin;
  admin: SQL;
  root: string;
  /** Closes the admin connection, stops both servers and removes the root. */
  stop(): Promise<void>;
}

export async function startBackupStores(rootPrefix: string): Promise<BackupStores> {
  const [pg, s3] = await Promise.all([startPostgres({ dockerAccess: false }), startS3()]);
  const conn = { host: pg.host, port: pg.port, user: pg.user, password: pg.password };
  const admin = pgConnect(conn);
  const root = makeTempDir(rootPrefix);
  return {
    pg,
    s3,
    conn,
    admin,
    root,
    async stop() {
      await admin.close();
      await Promise.all([pg.stop(), s3.destroy()]);
      removeTempDir(root);
    },
  };
}
