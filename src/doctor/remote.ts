/** Services outside the host: the ACME directory, the S3 backup target, and the clock against them. */
import { testS3Target } from "../host/s3";
import { type Check, type CheckStatus, fail, pass, skip, warn } from "./check";

export const acmeCheck: Check = {
  id: "acme",
  title: "ACME directory reachable",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    if (!ctx.config.acme.enabled) return skip("ACME is off (no acme section in the config)");
    const p = await ctx.acmeDirectory();
    if (!p.ok)
      return fail(
        p.error,
        "check outbound HTTPS and DNS from this host; a private CA needs acme.caFile; or choose another CA with `odooops init --acme-ca`",
      );
    return pass(`${p.url} answers`);
  },
};

export const s3Check: Check = {
  id: "s3",
  title: "S3 backup target reachable",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    const target = ctx.config.backups.s3;
    if (!target) return skip("no S3 target configured");
    const where = `s3://${target.bucket}/${target.prefix}${target.endpoint ? ` at ${target.endpoint}` : ""}`;
    const r = await testS3Target(target);
    if (!r.ok)
      return fail(
        `${where}: ${r.step} failed: ${r.error}`,
        "check backups.s3 (endpoint, bucket, keys, forcePathStyle), or re-run `odooops init` with the --s3-* flags",
      );
    return pass(`${where}: put, get, list and delete work`);
  },
};

/** Within 30 s is fine (Date headers have one-second resolution); S3 refuses requests 15 min off. */
export function clockLevel(skewMs: number): CheckStatus {
  const s = Math.abs(skewMs) / 1000;
  if (s <= 30) return "pass";
  if (s <= 300) return "warn";
  return "fail";
}

export const clockCheck: Check = {
  id: "clock",
  title: "clock agrees with remote servers",
  async run(ctx) {
    if (!ctx.config?.acme.enabled) return skip("no remote server configured to compare with");
    const p = await ctx.acmeDirectory();
    const date = p.date ?? null;
    if (!date) return skip("the ACME directory gave no Date to compare with");
    const skew = ctx.now.getTime() - date.getTime();
    const level = clockLevel(skew);
    const message = `${Math.round(Math.abs(skew) / 1000)} s ${skew >= 0 ? "ahead of" : "behind"} ${new URL(ctx.config.acme.directoryUrl).host}`;
    if (level === "pass") return pass(message);
    const hint =
      "synchronize the clock (apt-get install systemd-timesyncd, or chrony): TLS, ACME and S3 signatures depend on it";
    return level === "warn" ? warn(message, hint) : fail(message, hint);
  },
};
