/**
 * Attack (issue #13, low): under the systemd unit (ProtectHome=read-only) ssh cannot record a
 * host key in ~/.ssh/known_hosts, so "accept-new" accepted any key on every fetch, and a man in
 * the middle of the git server was never noticed. The key must be pinned in odooops' state dir at
 * first contact and a changed key refused. Host keys are checked before authentication, so the
 * test needs no account on the server: the first fetch fails at login, after the key was seen.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { syncMirror } from "../../src/git/mirror";
import { startSshd, type TestSshd } from "../support/sshd";
import { makeTempDir, removeTempDir } from "../support/tmp";

let tmp: string;
let sshd: TestSshd;

beforeAll(async () => {
  tmp = makeTempDir("odooops-known-hosts-");
  sshd = await startSshd(tmp);
}, 60_000);
afterAll(async () => {
  await sshd?.stop();
  removeTempDir(tmp);
}, 60_000);

describe("ssh host keys of git remotes", () => {
  test("the first contact pins the key in the state dir; a changed key is refused", async () => {
    const reposDir = join(tmp, "git");
    const url = `ssh://git@127.0.0.1:${sshd.port}/srv/acme/addons.git`;
    const knownHosts = join(reposDir, "known_hosts");

    await sshd.start("genuine");
    await expect(syncMirror({ reposDir, url })).rejects.toThrow(/Permission denied/);
    expect(existsSync(knownHosts)).toBe(true);
    expect(readFileSync(knownHosts, "utf8")).toContain(await sshd.publicKey("genuine"));

    await sshd.start("impostor");
    await expect(syncMirror({ reposDir, url })).rejects.toThrow(
      /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/,
    );
    expect(readFileSync(knownHosts, "utf8")).not.toContain(await sshd.publicKey("impostor"));
  }, 60_000);
});
