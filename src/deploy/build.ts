/**
 * The release image of a commit: the env's Odoo image with the repository's addons in
 * /mnt/extra-addons, tagged `<namePrefix>-<slug>:<sha12>` and built once per commit (a later
 * deploy or rollback of the same commit reuses it).
 *
 * Dockerfile: templates/deploy/Dockerfile.mustache, unless the repository has its own
 * `Dockerfile` at its root. Contract of an own Dockerfile: the build context is the repository's
 * tree at the commit (no .git); the env's Odoo image arrives as build argument ODOO_IMAGE
 * (`ARG ODOO_IMAGE` then `FROM ${ODOO_IMAGE}`); the addons must end up on the image's addons path
 * (/mnt/extra-addons in the official image) and the image must keep Odoo's entrypoint and user.
 * odooops adds its labels to whatever the Dockerfile produces.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import Mustache from "mustache";
import { CommandFailed, Conflict, Invalid } from "../errors";
import { redactArgv, run } from "../exec/run";
import { validateSha } from "../git/validate";
import { exportTree } from "../git/mirror";
import { dockerClient } from "../host/docker/client";
import type { StepContext } from "../jobs/define";
import dockerfileTemplate from "../../templates/deploy/Dockerfile.mustache" with { type: "text" };
import { imagePull, releaseBuild } from "./commands";

export interface BuildReleaseOptions {
  docker: { binary: string };
  namePrefix: string;
  env: { id: string; slug: string; odooImage: string };
  mirror: string;
  sha: string;
  workDir: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** A type, not an interface: it is returned as a job step's output (a plain record). */
export type BuiltRelease = {
  image: string;
  reused: boolean;
  /** Image ID (`sha256:…`). */
  id: string;
};

const BUILD_TAIL_LINES = 40;
const REPO_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export const LABEL_MANAGED = "odooops.managed";
export const LABEL_ENV = "odooops.env";
export const LABEL_COMMIT = "odooops.commit";
/** The Odoo image the release was built from: a changed base is a different release. */
export const LABEL_BASE = "odooops.base";

/** `<namePrefix>-<slug>:<first 12 of sha>`. */
export function releaseImageTag(namePrefix: string, slug: string, sha: string): string {
  const repo = `${namePrefix}-${slug}`;
  if (!REPO_NAME.test(repo))
    throw new Invalid(`cannot name an image ${JSON.stringify(repo)}: lowercase letters, digits and . _ - only`);
  const commit = validateSha(sha);
  if (commit.length < 12)
    throw new Invalid(`release images need at least 12 characters of the commit id, got ${commit}`);
  return `${repo}:${commit.slice(0, 12)}`;
}

export function releaseLabels(env: { id: string; odooImage: string }, sha: string): Record<string, string> {
  return { [LABEL_MANAGED]: "true", [LABEL_ENV]: env.id, [LABEL_COMMIT]: sha, [LABEL_BASE]: env.odooImage };
}

/**
 * The template Dockerfile. `user` is the base image's user (addons are owned by it so Odoo can
 * read them whatever the umask of the checkout was); empty for an image that runs as root.
 */
export function renderDockerfile(opts: {
  user: string;
  requirements: boolean;
  labels: Record<string, string>;
}): string {
  const owner =
    opts.user === "" || opts.user === "root" ? "" : opts.user.includes(":") ? opts.user : `${opts.user}:${opts.user}`;
  const labels = Object.entries(opts.labels).map(([k, v]) => {
    if (!/^[a-z0-9.]+$/.test(k) || !/^[A-Za-z0-9._:\/@-]*$/.test(v))
      throw new Invalid(`label ${k}=${JSON.stringify(v)} cannot be written into a Dockerfile`);
    return `${k}="${v}"`;
  });
  return Mustache.render(
    dockerfileTemplate,
    { user: opts.user, owner, requirements: opts.requirements, labels: labels.join(" ") },
    {},
    {
      escape: (v: unknown) => String(v),
    },
  );
}

/** Where a job builds: a directory of its own under the work dir. */
export function jobBuildDir(workDir: string, jobId: string): string {
  return join(workDir, `build-${jobId}`);
}

/**
 * The release image of `env` at `sha` as a job builds it (a deploy, a dr rebuild from the
 * deployed commit): in the job's build dir, cancelled with the job, into the job's log.
 */
export function buildReleaseForJob(
  ctx: Pick<StepContext<unknown>, "jobId" | "deps" | "signal" | "log">,
  env: BuildReleaseOptions["env"],
  mirror: string,
  sha: string,
): Promise<BuiltRelease> {
  return buildReleaseImage({
    docker: ctx.deps.config.docker,
    namePrefix: ctx.deps.config.docker.namePrefix,
    env: { id: env.id, slug: env.slug, odooImage: env.odooImage },
    mirror,
    sha,
    workDir: jobBuildDir(ctx.deps.paths.workDir, ctx.jobId),
    signal: ctx.signal,
    log: (l) => ctx.log(l),
  });
}

/** Builds the release image of `sha` for `env`, or reuses the one built before. */
export async function buildReleaseImage(opts: BuildReleaseOptions): Promise<BuiltRelease> {
  const sha = validateSha(opts.sha);
  if (sha.length !== 40) throw new Invalid(`build needs the full commit id, got ${sha}`);
  const tag = releaseImageTag(opts.namePrefix, opts.env.slug, sha);
  const labels = releaseLabels(opts.env, sha);
  const client = dockerClient(opts.docker);
  const log = opts.log ?? (() => undefined);

  const existing = await client.inspectImage(tag);
  if (existing) {
    const have = existing.Config.Labels ?? {};
    if (have[LABEL_MANAGED] !== "true")
      throw new Conflict(`image ${tag} exists but odooops did not build it; remove or retag it`);
    if (have[LABEL_COMMIT] !== sha) {
      throw new Conflict(
        `image ${tag} was built from commit ${have[LABEL_COMMIT] ?? "?"}, not ${sha}: the short ids collide; remove that image to deploy this commit`,
      );
    }
    if (have[LABEL_ENV] === opts.env.id && have[LABEL_BASE] === opts.env.odooImage)
      return { image: tag, reused: true, id: existing.Id };
    log(
      `rebuilding ${tag}: built for ${have[LABEL_ENV] === opts.env.id ? `base image ${have[LABEL_BASE] ?? "?"}` : `another environment (${have[LABEL_ENV] ?? "?"})`}`,
    );
  }

  let base = await client.inspectImage(opts.env.odooImage);
  if (!base) {
    log(`pulling ${opts.env.odooImage}`);
    await run(imagePull(opts.docker, opts.env.odooImage), { signal: opts.signal, onLine: (_s, l) => log(l) });
    base = await client.inspectImage(opts.env.odooImage);
    if (!base) throw new Conflict(`image ${opts.env.odooImage} is still missing after docker pull`);
  }

  const context = join(opts.workDir, `context-${sha.slice(0, 12)}`);
  rmSync(context, { recursive: true, force: true });
  mkdirSync(opts.workDir, { recursive: true });
  try {
    await exportTree(opts.mirror, sha, context);
    const own = existsSync(join(context, "Dockerfile"));
    // ImageInfo leaves User out; docker's inspect JSON has it on every image ("" for root).
    const config: Record<string, unknown> = base.Config;
    const user = typeof config.User === "string" ? config.User : "";
    const cmd = releaseBuild(opts.docker, {
      context,
      tag,
      odooImage: opts.env.odooImage,
      labels,
      dockerfile: own
        ? { path: join(context, "Dockerfile") }
        : {
            text: renderDockerfile({
              user,
              requirements: existsSync(join(context, "requirements.txt")),
              labels: { [LABEL_MANAGED]: "true", [LABEL_ENV]: opts.env.id },
            }),
          },
    });
    log(own ? `building ${tag} with the repository's Dockerfile` : `building ${tag} from ${opts.env.odooImage}`);
    const tail: string[] = [];
    const r = await run(cmd, {
      nothrow: true,
      signal: opts.signal,
      onLine: (_s, line) => {
        log(line);
        tail.push(line);
        if (tail.length > BUILD_TAIL_LINES) tail.shift();
      },
    });
    if (r.exitCode !== 0)
      throw new CommandFailed(
        redactArgv(cmd),
        r.exitCode,
        tail.join("\n"),
        `docker build of ${tag} failed (exit ${r.exitCode})`,
      );
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  const built = await client.inspectImage(tag);
  if (built?.Config.Labels?.[LABEL_COMMIT] !== sha)
    throw new Conflict(`image ${tag} is not the one just built for ${sha}`);
  return { image: tag, reused: false, id: built.Id };
}
