/**
 * Docker commands of a release build, as data. Beside the generic builders of host/docker: the
 * release build always passes the env's Odoo image as build argument ODOO_IMAGE (the contract
 * for a repository's own Dockerfile too) and removes intermediate containers even when a step
 * fails (`--force-rm`: the legacy builder keeps them otherwise; BuildKit accepts and ignores it).
 */
import type { Command } from "../exec/command";
import { assertImage, labelArgs } from "../host/docker/spec";

const BUILD_TIMEOUT_MS = 60 * 60_000;

export interface ReleaseBuildSpec {
  context: string;
  tag: string;
  odooImage: string;
  labels: Record<string, string>;
  /** The repository's own Dockerfile (a path), or the rendered template sent on stdin. */
  dockerfile: { path: string } | { text: string };
}

export function releaseBuild(cfg: { binary: string }, spec: ReleaseBuildSpec): Command {
  const argv = [
    cfg.binary,
    "build",
    "--force-rm",
    "--tag",
    assertImage(spec.tag),
    ...labelArgs(spec.labels),
    "--build-arg",
    `ODOO_IMAGE=${assertImage(spec.odooImage)}`,
    "--file",
    "path" in spec.dockerfile ? spec.dockerfile.path : "-",
    spec.context,
  ];
  return "text" in spec.dockerfile
    ? { argv, stdin: spec.dockerfile.text, timeoutMs: BUILD_TIMEOUT_MS }
    : { argv, timeoutMs: BUILD_TIMEOUT_MS };
}

export function imagePull(cfg: { binary: string }, image: string): Command {
  return { argv: [cfg.binary, "pull", assertImage(image)], timeoutMs: BUILD_TIMEOUT_MS };
}

export function imageTag(cfg: { binary: string }, source: string, target: string): Command {
  return { argv: [cfg.binary, "image", "tag", assertImage(source), assertImage(target)] };
}

export function imagePush(cfg: { binary: string }, image: string): Command {
  return { argv: [cfg.binary, "image", "push", assertImage(image)], timeoutMs: BUILD_TIMEOUT_MS };
}
