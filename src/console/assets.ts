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
