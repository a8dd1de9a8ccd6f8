/**
 * Test harness: a private sshd on a loopback port with a host key of the test's choosing, so a
 * test can change the server's identity under a client (what a man in the middle looks like).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { run } from "../../src/exec/run";
import { freePort } from "./ports";

export interface TestSshd {
  port: number;
  /** Starts (again) with the host key `name`, made on first use; the port stays the same. */
  start(name: string): Promise<void>;
  /** The base64 part of host key `name`'s public key, as known_hosts lines carry it. */
  publicKey(name: string): Promise<string>;
  stop(): Promise<void>;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

export async function startSshd(dir: string): Promise<TestSshd> {
  // The privilege separation directory sshd insists on (tmpfs, empty).
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const port = await freePort();
  let proc: ReturnType<typeof Bun.spawn> | null = null;

  const keyFile = async (name: string) => {
    const file = join(dir, `host-${name}`);
    if (!(await Bun.file(file).exists()))
      await run({ argv: ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file] });
    return file;
  };

  const stop = async () => {
    if (!proc) return;
    proc.kill("SIGTERM");
    await proc.exited;
    proc = null;
    for (let i = 0; i < 100 && (await listening(port)); i++) await Bun.sleep(50);
  };

  return {
    port,
    async start(name) {
      await stop();
      const cfg = join(dir, "sshd_config");
      writeFileSync(
        cfg,
        [
          `Port ${port}`,
          "ListenAddress 127.0.0.1",
          `HostKey ${await keyFile(name)}`,
          `PidFile ${join(dir, "sshd.pid")}`,
          `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
          "UsePAM no",
          "StrictModes no",
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          // host add uploads over SFTP; the in-process server needs no binary path.
          "Subsystem sftp internal-sftp",
          "",
        ].join("\n"),
      );
      proc = Bun.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], { stdout: "ignore", stderr: "ignore" });
      for (let i = 0; i < 200; i++) {
        if (await listening(port)) return;
        if (proc.exitCode !== null) throw new Error(`sshd exited with ${proc.exitCode}`);
        await Bun.sleep(50);
      }
      throw new Error(`sshd did not listen on ${port}`);
    },
    async publicKey(name) {
      return (await Bun.file(`${await keyFile(name)}.pub`).text()).split(" ")[1]!;
    },
    stop,
  };
}
