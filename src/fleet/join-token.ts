/**
 * The join token as text: `odj_` + base64url(JSON {u: agent API URL, f: certificate fingerprint,
 * s: secret}). Everything an agent needs to reach and trust the coordinator is in it; only the
 * secret's sha256 is kept by the coordinator.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { Invalid } from "../errors";

export const JOIN_TOKEN_PREFIX = "odj_";

const Payload = z
  .object({
    u: z.url({ protocol: /^https$/ }),
    f: z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
    s: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  })
  .strict();

export interface JoinTokenParts {
  url: string;
  fingerprint: string;
  secret: string;
}

export function newJoinSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function encodeJoinToken(p: JoinTokenParts): string {
  const json = JSON.stringify({ u: p.url, f: p.fingerprint, s: p.secret });
  return JOIN_TOKEN_PREFIX + Buffer.from(json).toString("base64url");
}

export function decodeJoinToken(token: string): JoinTokenParts {
  const bad = () =>
    new Invalid("not an odooops join token (expected odj_…, from `odooops host token create` on the coordinator)");
  if (!token.startsWith(JOIN_TOKEN_PREFIX) || token.length > 1024) throw bad();
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(token.slice(JOIN_TOKEN_PREFIX.length), "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  const parsed = Payload.safeParse(raw);
  if (!parsed.success) throw bad();
  return { url: parsed.data.u, fingerprint: parsed.data.f, secret: parsed.data.s };
}
