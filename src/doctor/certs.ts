/** Certificates that renewal should already have replaced. */
import { daysLeft, storedCertificates } from "../certs";
import { type Check, fail, pass, warn } from "./check";

/** Renewal starts 30 days before expiry: under 14 days left means it has been failing for two weeks. */
export const EXPIRY_WARN_DAYS = 14;

export const certsCheck: Check = {
  id: "certs",
  title: `no certificate expires within ${EXPIRY_WARN_DAYS} days`,
  async run(ctx) {
    const list = storedCertificates(ctx.paths.certsDir);
    if (list.length === 0) return pass("no certificates stored yet");
    const broken = list.filter((c) => c.cert === null).map((c) => c.domain);
    const dated = list
      .flatMap((c) => (c.cert ? [{ domain: c.domain, days: daysLeft(c.cert.info, ctx.now) }] : []))
      .sort((a, b) => a.days - b.days);
    const expired = dated.filter((c) => c.days < 0).map((c) => c.domain);
    const soon = dated.filter((c) => c.days >= 0 && c.days < EXPIRY_WARN_DAYS).map((c) => `${c.domain} (${c.days} d)`);
    const renew =
      "odooops certs renew --force DOMAIN; if it fails, the error names the cause (DNS, port 80, rate limit)";
    if (expired.length > 0) return fail(`expired: ${expired.join(", ")}`, renew);
    if (soon.length > 0) return warn(`expiring within ${EXPIRY_WARN_DAYS} days: ${soon.join(", ")}`, renew);
    if (broken.length > 0)
      return warn(
        `unreadable: ${broken.join(", ")}`,
        `check ${ctx.paths.certsDir}/<domain> (meta.json, fullchain.pem), or re-issue with odooops certs renew --force DOMAIN`,
      );
    const next = dated[0];
    return pass(`${list.length} certificate(s); the next expires in ${next.days} days (${next.domain})`);
  },
};
