/** The docker engine and the default Odoo image. */
import { dockerClient } from "../host/docker";
import { type Check, fail, fix, pass, skip, warn } from "./check";
import { dockerdStartHere } from "./commands";
import { packageHint } from "./packages";

/** host-gateway (how containers reach PostgreSQL on the host) needs Docker 20.10. */
const MIN_DOCKER: [number, number] = [20, 10];

/** "20.10.24+dfsg1" → [20, 10]; null when it is not a version. */
export function parseMajorMinor(version: string): [number, number] | null {
  const m = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function dockerVersionSupported(version: string): boolean {
  const v = parseMajorMinor(version);
  return v !== null && (v[0] > MIN_DOCKER[0] || (v[0] === MIN_DOCKER[0] && v[1] >= MIN_DOCKER[1]));
}

export const dockerCheck: Check = {
  id: "docker",
  title: "docker engine reachable",
  async run(ctx) {
    const binary = ctx.config?.docker.binary ?? "docker";
    const d = await ctx.docker();
    if (!d.ok && d.missing) return fail(`${binary} not found`, await packageHint("docker.io", "Docker"), ["docker.io"]);
    if (!d.ok)
      return fail(
        `docker engine not reachable: ${d.error}`,
        ctx.systemd
          ? fix(["systemctl", "enable", "--now", "docker"])
          : fix(dockerdStartHere().argv, "systemd is not PID 1 here"),
      );
    if (!dockerVersionSupported(d.version)) {
      return warn(
        `Docker ${d.version} is older than ${MIN_DOCKER.join(".")}`,
        `upgrade Docker to ${MIN_DOCKER.join(".")} or newer: Odoo containers reach PostgreSQL through host-gateway`,
      );
    }
    return pass(`Docker ${d.version} reachable`);
  },
};

export const imageCheck: Check = {
  id: "image",
  title: "default Odoo image present locally",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    if (!(await ctx.docker()).ok) return skip("docker not reachable (see the docker check)");
    const image = ctx.config.odoo.image;
    const info = await dockerClient(ctx.config.docker).inspectImage(image);
    if (!info)
      return warn(
        `${image} is not present locally`,
        fix([ctx.config.docker.binary, "pull", image], "otherwise the first env create pulls it"),
      );
    return pass(`${image} present (${info.Id.replace(/^sha256:/, "").slice(0, 12)})`);
  },
};
