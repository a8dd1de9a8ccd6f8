/**
 * Where a DR test runs. A restore rehearsed on the env's own host proves less than one on another
 * machine (the host itself may be what is lost), so another host is preferred whenever it can read
 * the backup (an S3 copy: the shared target is the only path between hosts) and run the release
 * (an image it can pull). Pure: the caller reads hosts, backup and image from state.
 */
import { Conflict, NotFound } from "../errors";
import { type Candidate, type Need, placeEnv } from "../fleet/placement";

/** The image another host would run the copy with, or why it has none to pull. */
export type DrTestImage = { pull: string } | { none: string };

export interface DrHostInput {
  /** The env's host; `id` null: a standalone coordinator without a host row. */
  envHost: { id: string | null; name: string };
  candidates: Candidate[];
  /** `dr test --host H`. */
  asked?: string;
  /** The env's limits, and the backup's size as the disk the copy needs. */
  need: Need;
  backupId: string;
  s3Copy: boolean;
  image: DrTestImage;
}

export type DrHostChoice =
  | { where: "own"; hostId: string | null; name: string; reason: string | null }
  | { where: "other"; hostId: string; name: string; image: string };

/** Why no other host, in the words `dr reports` shows. */
export const NO_OTHER_HOST = "no other host";
export const NO_S3_COPY = "no S3 copy";
export const IMAGE_NOT_IN_REGISTRY = "image not in a registry";

/**
 * `--host` names the host or is refused with why (unknown, offline, draining, cannot read the
 * backup or pull the image, too small); without it another online, non-draining host with room
 * is chosen when the backup and image can reach it, else the env's own host with the reason.
 */
export function chooseDrTestHost(input: DrHostInput): DrHostChoice {
  const own = (reason: string | null): DrHostChoice => ({
    where: "own",
    hostId: input.envHost.id,
    name: input.envHost.name,
    reason,
  });
  const others = input.candidates.filter((c) => c.id !== input.envHost.id);
  if (input.asked !== undefined) {
    if (input.asked === input.envHost.name) return own(null);
    const c = others.find((h) => h.name === input.asked);
    const refused = (why: string) => new Conflict(`dr test --host ${input.asked}: ${why}`);
    if (!c)
      throw new NotFound(
        `dr test --host ${input.asked}: no host ${input.asked} (hosts: ${[input.envHost.name, ...others.map((h) => h.name)].join(", ")})`,
      );
    if (!c.online) throw refused(`host is offline${c.offlineSince ? ` since ${c.offlineSince}` : ""}`);
    if (c.draining) throw refused("host is draining: it takes no new work");
    if (!input.s3Copy)
      throw refused(
        `backup ${input.backupId} has no S3 copy, and another host reads a backup only from the shared S3 target`,
      );
    if ("none" in input.image) throw refused(input.image.none);
    try {
      placeEnv([c], { need: input.need, host: c.name });
    } catch (e) {
      throw e instanceof Conflict ? refused(e.message) : e;
    }
    return { where: "other", hostId: c.id, name: c.name, image: input.image.pull };
  }
  if (others.length === 0) return own(NO_OTHER_HOST);
  if (!input.s3Copy) return own(NO_S3_COPY);
  if ("none" in input.image) return own(IMAGE_NOT_IN_REGISTRY);
  try {
    const placed = placeEnv(others, { need: input.need });
    return { where: "other", hostId: placed.host.id, name: placed.host.name, image: input.image.pull };
  } catch (e) {
    if (!(e instanceof Conflict)) throw e;
    const reasons = (e.details as { reasons?: string[] } | undefined)?.reasons ?? [];
    return own(`${NO_OTHER_HOST} available (${reasons.join("; ")})`);
  }
}
