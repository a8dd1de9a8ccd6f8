/**
 * Services init starts where systemd is not PID 1, and the matching doctor hints: a stopped nginx
 * fails doctor's nginx check with the exact command, running that command makes it pass, and
 * init (allowed) runs the same command itself; not allowed, it only says it. Real nginx on a
 * private config and port.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { runCheck } from "../../src/doctor/check";
import { makeContext } from "../../src/doctor/context";
import { nginxCheck } from "../../src/doctor/nginx";
import { run } from "../../src/exec/run";
import { nginxStart } from "../../src/host/nginx";
import { dockerdStartHere } from "../../src/doctor/commands";
import { startServices } from "../../src/init/services";
import { startNginx, type TestNginx } from "../support/nginx";

let nginx: TestNginx;

beforeAll(async () => {
  nginx = await startNginx();
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
}, 60_000);

function config() {
  return ConfigSchema.parse({ nginx: { binary: nginx.binary, configFile: nginx.configFile, httpPort: nginx.port } });
}

const check = () =>
  runCheck(nginxCheck, makeContext({ paths: resolvePaths(nginx.dir), config: config(), systemd: false }));

async function stopNginx(): Promise<void> {
  await run({ argv: [nginx.binary, "-s", "stop", "-c", nginx.configFile] });
  for (let i = 0; i < 200 && (await check()).status === "pass"; i++) await Bun.sleep(25);
}

test("argv: the default config starts with plain `nginx`, another one with -c", () => {
  expect(nginxStart({ binary: "nginx", configFile: "/etc/nginx/nginx.conf" }).argv).toEqual(["nginx"]);
  expect(nginxStart({ binary: "/usr/sbin/nginx", configFile: "/srv/n.conf" }).argv).toEqual([
    "/usr/sbin/nginx",
    "-c",
    "/srv/n.conf",
  ]);
  expect(dockerdStartHere().argv).toEqual([
    "start-stop-daemon",
    "--start",
    "--background",
    "--output",
    "/var/log/dockerd.log",
    "--exec",
    Bun.which("dockerd") ?? "/usr/sbin/dockerd",
  ]);
});

test("a running nginx passes, reload included", async () => {
  const r = await check();
  expect(r.status).toBe("pass");
  expect(r.message).toEndWith("reload works");
});

test("nginx stopped: doctor fails with the command; running it fixes it", async () => {
  await stopNginx();
  const r = await check();
  expect(r.status).toBe("fail");
  expect(r.message).toStartWith("nginx is not running: ");
  expect(r.hint).toBe(`${nginx.binary} -c ${nginx.configFile}`);
  await run({ argv: r.hint!.split(" ") });
  expect((await check()).status).toBe("pass");
}, 60_000);

test("init without systemd: not allowed, it only says the command; allowed, it starts nginx", async () => {
  await stopNginx();
  const steps: string[] = [];
  const warns: string[] = [];
  const io = { step: (m: string) => steps.push(m), warn: (m: string) => warns.push(m) };
  // The docker check of this machine passes, so the only line is about nginx.
  expect(await startServices({ config: config(), systemd: false, allow: async () => false, ...io })).toEqual([]);
  expect(warns).toEqual([`nginx is not running: ${nginx.binary} -c ${nginx.configFile}`]);
  expect((await check()).status).toBe("fail");

  expect(await startServices({ config: config(), systemd: false, allow: async () => true, ...io })).toEqual(["nginx"]);
  expect(steps).toEqual([
    `started nginx (${nginx.binary} -c ${nginx.configFile}); systemd is not running here, so nothing starts it at boot`,
  ]);
  expect((await check()).status).toBe("pass");
  // Running: nothing to do, nothing asked.
  let asked = false;
  expect(await startServices({ config: config(), systemd: false, allow: async () => (asked = true), ...io })).toEqual(
    [],
  );
  expect(asked).toBe(false);
}, 60_000);

test("init without systemd where nginx is not installed (no binary, no nginx.conf): nothing to start, no error", async () => {
  const steps: string[] = [];
  const warns: string[] = [];
  const absent = ConfigSchema.parse({
    nginx: { binary: "/nonexistent/nginx", configFile: "/nonexistent/nginx.conf", httpPort: nginx.port },
  });
  const started = await startServices({
    config: absent,
    systemd: false,
    allow: async () => true,
    step: (m) => steps.push(m),
    warn: (m) => warns.push(m),
  });
  expect(started).toEqual([]);
  // This machine's docker engine answers: nothing to say about it either.
  expect([...steps, ...warns]).toEqual([]);
});
