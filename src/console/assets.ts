/**
 * The console's static files (stylesheet, htmx, the log follower, icon), embedded into the binary by the bundler (text imports) and
 * served under a content hash: a new release gets new URLs, so browsers may cache forever.
 */
import htmx from "htmx.org/dist/htmx.min.js" with { type: "text" };
import css from "./assets/console.css" with { type: "text" };
import favicon from "./assets/favicon.svg" with { type: "text" };
import follow from "./assets/follow.js" with { type: "text" };

export interface Asset {
  body: string;
  type: string;
}

const FILES: Record<string, Asset> = {
  "console.css": { body: css, type: "text/css; charset=utf-8" },
  "htmx.min.js": { body: htmx, type: "text/javascript; charset=utf-8" },
  "follow.js": { body: follow, type: "text/javascript; charset=utf-8" },
  "favicon.svg": { body: favicon, type: "image/svg+xml" },
};

/** One hash over every file: cheap to compute once, and any change moves every URL. */
export const ASSET_HASH = new Bun.CryptoHasher("sha256")
  .update(
    Object.values(FILES)
      .map((f) => f.body)
      .join("\0"),
  )
  .digest("hex")
  .slice(0, 12);

export function assetUrl(name: keyof typeof FILES & string): string {
  return `/assets/${ASSET_HASH}/${name}`;
}

export function assetFor(hash: string, name: string): Asset | null {
  return hash === ASSET_HASH ? (FILES[name] ?? null) : null;
}

/**
 * An asset's gzip, made on its first request and kept: the files never change while the daemon
 * runs, and a CompressionStream per request (the console's compress()) would gzip htmx's 50 KB
 * again for every visitor.
 */
const GZIPPED = new Map<Asset, Uint8Array<ArrayBuffer>>();

export function gzipped(asset: Asset): Uint8Array<ArrayBuffer> {
  let body = GZIPPED.get(asset);
  if (!body) {
    // Copied once into a buffer of its own: the type a response body takes.
    body = new Uint8Array(Bun.gzipSync(asset.body));
    GZIPPED.set(asset, body);
  }
  return body;
}

/** Whether an Accept-Encoding header allows gzip: named, or `*`, with a q above 0 (RFC 9110 §12.5.3). */
export function acceptsGzip(header: string | undefined): boolean {
  let wildcard = false;
  for (const part of (header ?? "").split(",")) {
    const [coding = "", ...params] = part.split(";").map((p) => p.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    const allowed = (q === undefined ? 1 : Number(q.slice(2))) > 0;
    if (coding === "gzip") return allowed;
    if (coding === "*") wildcard = allowed;
  }
  return wildcard;
}
