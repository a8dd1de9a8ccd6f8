/**
 * One SSH connection (ssh2): the host key decided by ./known-hosts before any credential is
 * sent, key auth with --identity or the SSH agent, remote commands as argv (./quote), SFTP
 * uploads verified by the remote's own sha256sum and renamed into place atomically.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { Client, type ClientChannel } from "ssh2";
import { CommandFailed, Invalid, Unavailable, errorText } from "../../errors";
import { Secrets } from "../../log";
import { fingerprint, type HostKeyVerdict, verifyHostKey } from "./known-hosts";
import { remoteCommand } from "./quote";

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** Private key file; without it the agent at SSH_AUTH_SOCK is asked. */
  identityFile?: string;
  /** A pinned `SHA256:…` fingerprint; replaces the known_hosts lookup. */
  fingerprint?: string;
  knownHostsFiles: string[];
}

export interface RemoteResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface ExecOptions {
  stdin?: string | Uint8Array;
  timeoutMs?: number;
  signal?: AbortSignal;
  nothrow?: boolean;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const CONNECT_TIMEOUT_MS = 20_000;

/** The key algorithm name a raw SSH public key blob starts with (uint32 length + name). */
export function keyType(blob: Buffer): string {
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return blob.subarray(4, 4 + n).toString("ascii");
}

function authConfig(target: SshTarget, env: Record<string, string | undefined>) {
  if (target.identityFile !== undefined) {
    if (!existsSync(target.identityFile)) throw new Invalid(`--identity: no such file: ${target.identityFile}`);
    const text = readFileSync(target.identityFile, "utf8");
    // ssh2 cannot prompt; an encrypted key belongs in the agent (ssh-add) instead.
    if (isEncryptedKey(text))
      throw new Invalid(
        `${target.identityFile} is passphrase-protected: add it to the agent (ssh-add) and omit --identity`,
      );
    return { privateKey: text };
  }
  if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK };
  throw new Invalid("no SSH credential: pass --identity FILE or run an SSH agent (SSH_AUTH_SOCK)");
}

/** OpenSSH's own key format says "none" as cipher when unencrypted; PEM keys say ENCRYPTED. */
function isEncryptedKey(text: string): boolean {
  if (text.includes("Proc-Type: 4,ENCRYPTED") || text.includes("BEGIN ENCRYPTED PRIVATE KEY")) return true;
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END/.exec(text);
  if (!m?.[1]) return false;
  const raw = Buffer.from(m[1].replace(/\s+/g, ""), "base64");
  // "openssh-key-v1\0" then a string: the cipher name.
  const off = 15;
  const len = raw.readUInt32BE(off);
  return raw.subarray(off + 4, off + 4 + len).toString() !== "none";
}

export class SshSession {
  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    /** How the host key was accepted (shown in the step's output). */
    readonly hostKey: { how: string; fingerprint: string; keyType: string; key: Buffer },
  ) {}

  /**
   * Connects; refuses an unknown, revoked or different host key with a HostKeyRefused that
   * carries the fingerprint (and the flag that pins it).
   */
  static async connect(target: SshTarget, env: Record<string, string | undefined> = process.env): Promise<SshSession> {
    const knownHosts = target.knownHostsFiles
      .filter((f) => existsSync(f))
      .map((file) => ({ file, text: readFileSync(file, "utf8") }));
    const auth = authConfig(target, env);
    const client = new Client();
    let verdict: HostKeyVerdict | null = null;
    let presented: Buffer | null = null;
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", (e) => {
        if (verdict && !verdict.ok) reject(new HostKeyRefused(verdict.message, verdict.fingerprint, verdict.reason));
        else reject(new Unavailable(`ssh ${target.username}@${target.host}:${target.port}: ${errorText(e)}`));
      });
      client.connect({
        host: target.host,
        port: target.port,
        username: target.username,
        readyTimeout: CONNECT_TIMEOUT_MS,
        ...auth,
        hostVerifier: (key: Buffer) => {
          presented = Buffer.from(key);
          verdict = verifyHostKey({
            host: target.host,
            port: target.port,
            keyBlob: presented,
            pinned: target.fingerprint,
            knownHosts,
          });
          return verdict.ok;
        },
      });
    });
    const v = verdict as HostKeyVerdict | null;
    const key = presented as Buffer | null;
    // ssh2 calls hostVerifier before "ready"; a session without a verdict is never used.
    if (!v?.ok || !key) {
      client.end();
      throw new Unavailable("the SSH server's host key was never checked; refusing the connection");
    }
    return new SshSession(client, target, {
      how: v.how,
      fingerprint: fingerprint(key),
      keyType: keyType(key),
      key,
    });
  }

  /**
   * A channel running argv on the remote. `attach` runs inside ssh2's callback: a short command's
   * output, exit status and close can arrive in the same packet batch as the exec confirmation,
   * and a listener added one microtask later would miss them.
   */
  channel(argv: readonly string[], attach: (ch: ClientChannel) => void): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.exec(remoteCommand(argv), (err, ch) => {
        if (err) return reject(err);
        attach(ch);
        resolve(ch);
      });
    });
  }

  /** Runs argv remotely; throws CommandFailed on a non-zero exit unless `nothrow`. */
  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<RemoteResult> {
    const started = performance.now();
    let stdout = "";
    let stderr = "";
    const decodeOut = new TextDecoder();
    const decodeErr = new TextDecoder();
    let exitCode: number | null = null;
    let closed!: Promise<void>;
    const stream = await this.channel(argv, (ch) => {
      ch.on("data", (d: Buffer) => {
        stdout += decodeOut.decode(d, { stream: true });
      });
      ch.stderr.on("data", (d: Buffer) => {
        stderr += decodeErr.decode(d, { stream: true });
      });
      ch.on("exit", (code: number | null) => {
        exitCode = code;
      });
      closed = new Promise<void>((resolve) => ch.once("close", () => resolve()));
    });
    let stopped: string | null = null;
    let giveUp = () => {};
    const gaveUp = new Promise<void>((resolve) => {
      giveUp = resolve;
    });
    const stop = (why: string) => {
      stopped = why;
      // Where sshd honours signal requests the command dies; either way the channel is closed
      // and the caller is answered now: sshd may keep the channel until the command ends.
      stream.signal("KILL");
      stream.close();
      giveUp();
    };
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(() => stop(`timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = () => stop("cancelled");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    if (opts.stdin !== undefined) stream.end(opts.stdin);
    else stream.end();
    await Promise.race([closed, gaveUp]);
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    stdout += decodeOut.decode();
    stderr += decodeErr.decode();
    const shown = [`ssh ${this.target.username}@${this.target.host}`, ...argv].map((a) => Secrets.redact(a));
    if (stopped !== null) throw new CommandFailed(shown, null, tail(stderr), `remote command ${stopped}`);
    const code = (exitCode as number | null) ?? 255;
    if (code !== 0 && !opts.nothrow) throw new CommandFailed(shown, code, tail(Secrets.redact(stderr || stdout)));
    return { exitCode: code, stdout, stderr, durationMs: performance.now() - started };
  }

  /**
   * Uploads a file next to `remotePath`, checks the remote's sha256sum of it against the local
   * one, and only then renames it over `remotePath` (rename(2): nothing ever sees half a file).
   * A mismatch or failure removes the partial upload.
   */
  async upload(localPath: string, remotePath: string, mode = 0o644): Promise<{ sha256: string; bytes: number }> {
    const { sha256, bytes } = await sha256File(localPath);
    const tmp = `${dirname(remotePath)}/.${basename(remotePath)}.upload-${randomBytes(6).toString("hex")}`;
    const sftp = await new Promise<import("ssh2").SFTPWrapper>((resolve, reject) =>
      this.client.sftp((err, s) => (err ? reject(err) : resolve(s))),
    );
    try {
      await new Promise<void>((resolve, reject) =>
        sftp.fastPut(localPath, tmp, { mode }, (err) => (err ? reject(err) : resolve())),
      );
      const remote = await this.remoteSha256(tmp);
      if (remote !== sha256)
        throw new Unavailable(
          `upload of ${localPath} to ${remotePath} is corrupt: local sha256 ${sha256}, remote ${remote}; the partial file was removed`,
        );
      await this.exec(["mv", "-f", "--", tmp, remotePath]);
      return { sha256, bytes };
    } catch (e) {
      await this.exec(["rm", "-f", "--", tmp], { nothrow: true }).catch(() => undefined);
      throw e;
    } finally {
      sftp.end();
    }
  }

  /** sha256sum of a remote file, or null when it does not exist. */
  async remoteSha256(path: string): Promise<string | null> {
    const r = await this.exec(["sha256sum", "--", path], { nothrow: true });
    if (r.exitCode !== 0) return null;
    return parseSha256sum(r.stdout);
  }

  close(): void {
    this.client.end();
  }
}

/** The hash of `sha256sum` output ("<hex>  <name>"), or null when it is not one. */
export function parseSha256sum(out: string): string | null {
  const m = /^\\?([0-9a-f]{64})\s/.exec(out);
  return m?.[1] ?? null;
}

export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest("hex"), bytes };
}

function tail(text: string): string {
  return text.trimEnd().split("\n").slice(-30).join("\n");
}

/** An SSH server whose host key is not trusted: nothing was sent to it but the handshake. */
export class HostKeyRefused extends Unavailable {
  constructor(
    message: string,
    readonly fingerprint: string,
    readonly reason: "unknown" | "mismatch" | "revoked",
  ) {
    super(message, { fingerprint, reason });
  }
}
