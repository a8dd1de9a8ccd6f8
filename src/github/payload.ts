/** The parts of GitHub webhook payloads odooops acts on (everything else is ignored, not rejected). */
import { z } from "zod";

export const ZERO_SHA = "0".repeat(40);

const Repository = z.object({
  full_name: z.string().optional(),
  clone_url: z.string().optional(),
  ssh_url: z.string().optional(),
  git_url: z.string().optional(),
  html_url: z.string().optional(),
  svn_url: z.string().optional(),
});

/** Just enough to pick the project whose secret checks the signature. */
export const AnyEvent = z.object({ repository: Repository.optional() });

export const PushEvent = z.object({
  ref: z.string(),
  after: z.string().regex(/^[0-9a-f]{40}$/),
  deleted: z.boolean().optional(),
  /** Push events carry `pushed_at` as unix seconds (other events as an ISO date). */
  repository: Repository.extend({ pushed_at: z.union([z.number(), z.string()]).nullable().optional() }),
});
export type PushEvent = z.infer<typeof PushEvent>;

export function repositoryUrls(payload: z.infer<typeof AnyEvent>): string[] {
  const r = payload.repository;
  if (!r) return [];
  return [r.clone_url, r.ssh_url, r.git_url, r.html_url, r.svn_url].filter((u): u is string => typeof u === "string");
}

const Sha = z.string().regex(/^[0-9a-f]{40}$/);

export const PullRequestEvent = z.object({
  action: z.string(),
  number: z.number().int().positive(),
  pull_request: z.object({
    updated_at: z.string().optional(),
    /** `repo` is null when the fork was deleted. */
    head: z.object({
      sha: Sha,
      ref: z.string().min(1).max(255),
      repo: z.object({ full_name: z.string() }).nullable().optional(),
    }),
  }),
  repository: Repository.extend({ full_name: z.string().regex(/^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/) }),
});
export type PullRequestEvent = z.infer<typeof PullRequestEvent>;
