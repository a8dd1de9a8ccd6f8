/**
 * Who may call the API: users with argon2 passwords (Bun.password), short-lived JWT logins
 * (HS256 with expiry), long-lived hashed API tokens for scripts, and the coordinator host's
 * local token file (root/odooops group only) so "SSH in and run commands" needs no login.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { and, eq, isNull, lt } from "drizzle-orm";
import { sign, verify } from "hono/jwt";
import { Conflict, Forbidden, Invalid, NotFound, Unauthorized } from "../errors";
import { Log, Secrets } from "../log";
import type { Db } from "../state/db";
import { now } from "../state/columns";
import { apiTokens, sessions, users } from "./auth.sql";
import { forgetFirstStartPassword } from "./first-password";
import { lowerRole, roleAtLeast, type Role } from "./roles";
import { readOrCreateSecretFile } from "./secret-file";
import { randomSecret } from "./secretbox";
import { hashToken, newApiToken, TOKEN_DEFAULT_DAYS, TOKEN_PREFIX } from "./tokens";

const log = Log.create("auth");

export type { Role } from "./roles";
export interface Principal {
  userId: string;
  username: string;
  role: Role;
  via: "jwt" | "token" | "local";
  /** The login session (via jwt) or API token (via token/local) the request came with. */
  credentialId: string;
}

/** "Last used" to the minute is enough; a write per request would serialize every read. */
function stale(lastUsedAt: string | null, ts: string): boolean {
  return !lastUsedAt || Date.parse(ts) - Date.parse(lastUsedAt) > 60_000;
}

export class AuthService {
  private jwtSecret: string;

  constructor(
    private readonly db: Db,
    private readonly opts: { jwtSecretFile: string; sessionHours: number; adminPasswordFile?: string },
  ) {
    this.jwtSecret = readOrCreateSecretFile(opts.jwtSecretFile, () => randomSecret(48));
    Secrets.add(this.jwtSecret);
  }

  async createUser(username: string, password: string, role: Role = "member") {
    if (!/^[a-z][a-z0-9._-]{1,31}$/.test(username))
      throw new Invalid(`invalid username ${JSON.stringify(username)}: 2-32 chars, a-z 0-9 . _ -`);
    if (password.length < 8) throw new Invalid("password must have at least 8 characters");
    if (this.db.select().from(users).where(eq(users.username, username)).get())
      throw new Conflict(`user ${username} exists`);
    const passwordHash = await Bun.password.hash(password, { algorithm: "argon2id" });
    return this.db.insert(users).values({ username, passwordHash, role }).returning().get();
  }

  /**
   * First start: `admin` gets ODOOOPS_ADMIN_PASSWORD, or a random password written once to
   * `passwordFile` (0600). Returns the file path when one was written.
   */
  async bootstrapAdmin(passwordFile: string, envPassword?: string): Promise<string | null> {
    if (this.db.select({ id: users.id }).from(users).limit(1).get()) return null;
    const password = envPassword && envPassword.length > 0 ? envPassword : randomSecret(18);
    await this.createUser("admin", password, "admin");
    if (envPassword) return null;
    mkdirSync(dirname(passwordFile), { recursive: true, mode: 0o700 });
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    log.info("created user admin; its password is in the file", { file: passwordFile });
    return passwordFile;
  }

  async login(username: string, password: string): Promise<{ token: string; expiresAt: string; username: string }> {
    const user = this.db.select().from(users).where(eq(users.username, username)).get();
    // Verify against a dummy hash when the user is unknown so timing does not reveal usernames.
    const ok = await Bun.password.verify(password, user?.passwordHash ?? dummyHash()).catch(() => false);
    if (!user || !ok) throw new Unauthorized("invalid username or password");
    forgetFirstStartPassword(this.opts.adminPasswordFile, password);
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + Math.round(this.opts.sessionHours * 3600);
    const expiresAt = new Date(exp * 1000).toISOString();
    // Expired sessions can never authenticate again: the table keeps only those that still could.
    this.db.delete(sessions).where(lt(sessions.expiresAt, now())).run();
    const session = this.db.insert(sessions).values({ userId: user.id, expiresAt }).returning().get();
    const token = await sign({ sub: user.id, sid: session.id, name: user.username, exp, iat }, this.jwtSecret, "HS256");
    return { token, expiresAt, username: user.username };
  }

  async authenticate(bearer: string | undefined): Promise<Principal> {
    if (!bearer) throw new Unauthorized("authentication required: run `odooops auth login` or pass a token");
    if (bearer.startsWith(TOKEN_PREFIX)) return this.fromApiToken(bearer);
    let payload: Record<string, unknown>;
    try {
      payload = (await verify(bearer, this.jwtSecret, "HS256")) as Record<string, unknown>;
    } catch (e) {
      const expired = (e as Error).name === "JwtTokenExpired";
      throw new Unauthorized(expired ? "session expired: run `odooops auth login` again" : "invalid token");
    }
    const row = this.db
      .select({ s: sessions, u: users })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(and(eq(sessions.id, String(payload.sid)), eq(sessions.userId, String(payload.sub))))
      .get();
    if (!row) throw new Unauthorized("invalid token");
    if (row.s.revokedAt)
      throw new Unauthorized("session ended (logged out or revoked): run `odooops auth login` again");
    const ts = now();
    if (stale(row.s.lastUsedAt, ts))
      this.db.update(sessions).set({ lastUsedAt: ts }).where(eq(sessions.id, row.s.id)).run();
    return { userId: row.u.id, username: row.u.username, role: row.u.role, via: "jwt", credentialId: row.s.id };
  }

  private fromApiToken(token: string): Principal {
    const row = this.db
      .select({ t: apiTokens, u: users })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(and(eq(apiTokens.tokenHash, hashToken(token)), isNull(apiTokens.revokedAt)))
      .get();
    if (!row || (row.t.expiresAt && row.t.expiresAt < now()))
      throw new Unauthorized("invalid, expired or revoked API token");
    const ts = now();
    if (stale(row.t.lastUsedAt, ts))
      this.db.update(apiTokens).set({ lastUsedAt: ts }).where(eq(apiTokens.id, row.t.id)).run();
    // A token keeps its own ceiling, and a later demotion of its owner lowers it too.
    const role = row.t.role ? lowerRole(row.t.role, row.u.role) : row.u.role;
    return {
      userId: row.u.id,
      username: row.u.username,
      role,
      via: row.t.kind === "local" ? "local" : "token",
      credentialId: row.t.id,
    };
  }

  /**
   * A new secret for signing login sessions: written (0600) before it is used, then every
   * session is ended, so a leaked secret or a stolen session token is worthless. API tokens are
   * not signed with it (they are looked up by hash) and keep working. Returns how many sessions ended.
   */
  rotateSigningKey(): { sessionsEnded: number } {
    const next = randomSecret(48);
    const tmp = `${this.opts.jwtSecretFile}.new`;
    writeFileSync(tmp, `${next}\n`, { mode: 0o600 });
    renameSync(tmp, this.opts.jwtSecretFile);
    Secrets.add(next);
    this.jwtSecret = next;
    const ended = this.db
      .update(sessions)
      .set({ revokedAt: now() })
      .where(isNull(sessions.revokedAt))
      .returning({ id: sessions.id })
      .all();
    return { sessionsEnded: ended.length };
  }

  /** Ends the session the caller logged in with (a token is revoked with `auth token revoke`). */
  logout(p: Principal): void {
    if (p.via !== "jwt")
      throw new Invalid(
        "this request is authenticated by an API token, not a login session: revoke the token instead (odooops auth token revoke ID)",
      );
    this.db
      .update(sessions)
      .set({ revokedAt: now() })
      .where(and(eq(sessions.id, p.credentialId), isNull(sessions.revokedAt)))
      .run();
  }

  listSessions(userId: string) {
    return this.db
      .select({
        id: sessions.id,
        createdAt: sessions.createdAt,
        expiresAt: sessions.expiresAt,
        lastUsedAt: sessions.lastUsedAt,
        revokedAt: sessions.revokedAt,
      })
      .from(sessions)
      .where(eq(sessions.userId, userId))
      .all();
  }

  /** Own sessions; admins may end anyone's. */
  revokeSession(p: Principal, id: string): void {
    const own = p.role === "admin" ? undefined : eq(sessions.userId, p.userId);
    const res = this.db
      .update(sessions)
      .set({ revokedAt: now() })
      .where(and(eq(sessions.id, id), isNull(sessions.revokedAt), own))
      .returning()
      .get();
    if (!res) throw new NotFound(`no active session ${id}`);
  }

  /** A token never does more than its creator: its role is at most the creator's, and it always expires. */
  createApiToken(p: Principal, name: string, opts: { ttlDays?: number; role?: Role } = {}) {
    if (!/^[\w .:-]{1,64}$/.test(name)) throw new Invalid("token name: 1-64 letters, digits, space . _ : -");
    const role = opts.role ?? p.role;
    if (!roleAtLeast(p.role, role))
      throw new Forbidden(
        `a token cannot have more rights than its creator: ${p.username} is ${p.role}, asked for ${role}`,
      );
    const token = newApiToken();
    const expiresAt = new Date(Date.now() + (opts.ttlDays ?? TOKEN_DEFAULT_DAYS) * 86_400_000).toISOString();
    const row = this.db
      .insert(apiTokens)
      .values({ userId: p.userId, name, role, tokenHash: hashToken(token), expiresAt })
      .returning()
      .get();
    return { id: row.id, name, role, token, expiresAt };
  }

  listApiTokens(userId: string) {
    return this.db
      .select({
        id: apiTokens.id,
        name: apiTokens.name,
        kind: apiTokens.kind,
        role: apiTokens.role,
        createdAt: apiTokens.createdAt,
        lastUsedAt: apiTokens.lastUsedAt,
        expiresAt: apiTokens.expiresAt,
        revokedAt: apiTokens.revokedAt,
      })
      .from(apiTokens)
      .where(eq(apiTokens.userId, userId))
      .all();
  }

  /** Own tokens; admins may revoke anyone's. */
  revokeApiToken(p: Principal, id: string) {
    const own = p.role === "admin" ? undefined : eq(apiTokens.userId, p.userId);
    const res = this.db
      .update(apiTokens)
      .set({ revokedAt: now() })
      .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt), own))
      .returning()
      .get();
    if (!res) throw new NotFound(`no active token ${id}`);
  }

  /**
   * A fresh local token at every daemon start (older ones revoked), written 0640 and group
   * `odooops` when that group exists, so root and group members use the CLI without a login.
   */
  writeLocalToken(file: string): void {
    const admin = this.db.select().from(users).where(eq(users.role, "admin")).limit(1).get();
    if (!admin) return;
    this.db
      .update(apiTokens)
      .set({ revokedAt: now() })
      .where(and(eq(apiTokens.kind, "local"), isNull(apiTokens.revokedAt)))
      .run();
    const token = newApiToken();
    this.db
      .insert(apiTokens)
      .values({ userId: admin.id, name: "local", kind: "local", tokenHash: hashToken(token) })
      .run();
    mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
    writeFileSync(`${file}.tmp`, `${token}\n`, { mode: 0o640 });
    chmodSync(`${file}.tmp`, 0o640);
    const gid = groupId("odooops");
    if (gid !== null && process.getuid?.() === 0) chownSync(`${file}.tmp`, 0, gid);
    renameSync(`${file}.tmp`, file);
  }
}

let dummy: string | null = null;
function dummyHash(): string {
  dummy ??= Bun.password.hashSync("odooops-dummy-password", { algorithm: "argon2id" });
  return dummy;
}

function groupId(name: string): number | null {
  if (!existsSync("/etc/group")) return null;
  const line = readFileSync("/etc/group", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(":")[2]) : null;
}
