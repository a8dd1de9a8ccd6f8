/** Tier limits against this host: env create lowers those above it, doctor says which. */
import { TierName } from "../config/schema";
import { clampToHost } from "../env/host-fit";
import { type Check, pass, skip } from "./check";

export const hostFitCheck: Check = {
  id: "host-fit",
  title: "tier limits fit this host's CPUs and memory",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    const host = ctx.host;
    const notes = TierName.options.flatMap((tier) => {
      const { workers, cpus, memoryMb } = ctx.config!.tiers[tier];
      return clampToHost({ workers, cpus, memoryMb }, host, tier).notes;
    });
    const has = `this host has ${host.cpus} CPUs and ${host.memoryMb} MiB`;
    // Not a failure: env create lowers them the same way; the note says what envs will get.
    return pass(notes.length === 0 ? `every tier fits (${has})` : `${has}; env create lowers: ${notes.join("; ")}`);
  },
};
