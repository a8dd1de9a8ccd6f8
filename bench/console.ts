#!/usr/bin/env bun
/**
 * The web console's first page with 100 environments (issue #19): the real daemon (dist/odooops) on
 * loopback, 100 envs seeded, each with a stored certificate. Measures, in one run:
 *   - server time of `GET /` (logged in, gzip) against a baseline in the same run: the API's JSON
 *     list of the same 100 envs (`GET /api/v1/environments`), requests interleaved one for one;
 *   - transferred bytes of a first load: the page, its stylesheet and scripts, as sent (gzip);
 *   - what the console adds to the daemon's idle RSS: idle after API traffic only, then idle
 *     again after console traffic (the console is imported on the daemon's start, so this is
 *     what serving it costs: caches, compiled views).
 * Targets: p95 < 20 ms, < 100 KB, < 5 MB. The CLI never imports src/console (test/architecture.test.ts).
 *
 *   bun run build && bun bench/console.ts   (BENCH_REQUESTS=300, at most 2000)
 *
 * Reports only; never fails on a time. Loopback only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { saveCertificate } from "../src/certs/store";
import { resolvePaths } from "../src/config/paths";
import { run } from "../src/exec/run";
import { ADMIN_PASSWORD, startDaemon } from "./lib/daemon";
import { procStatusBytes } from "./lib/proc";
import { seedEnvironments } from "./lib/seed";
import { mb, ms, percentile, ratio, sorted } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const ENVS = 100;
const REQUESTS = Math.min(Number(process.env.BENCH_REQUESTS ?? 300) || 300, 2000);
const WARMUP = 30;
const IDLE_MS = 3000;
const TIERS_SUB = ["dev", "preview", "staging", ""];

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  body: Buffer;
}

/** node:http, not fetch: the bytes on the wire, not decompressed. */
function get(url: string, headers: Record<string, string>, method = "GET", body?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: all.length, body: all });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function cookiesOf(r: Raw): string {
  const set = r.headers["set-cookie"] ?? [];
  return (Array.isArray(set) ? set : [set]).map((c) => c.split(";")[0]).join("; ");
}

/** One self-signed certificate naming every env's domain, stored for each as the daemon would. */
async function seedCertificates(root: string, dir: string): Promise<void> {
  const domains = Array.from({ length: ENVS }, (_, i) => {
    const slug = `bench-${String(i).padStart(4, "0")}`;
    return [slug, TIERS_SUB[i % 4], "odoo.localhost"].filter(Boolean).join(".");
  });
  const [key, crt] = [join(dir, "k.pem"), join(dir, "c.pem")];
  await run({
    argv: ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
      .concat(["-keyout", key, "-out", crt, "-days", "40", "-subj", "/CN=bench"])
      .concat(["-addext", `subjectAltName=${domains.map((d) => `DNS:${d}`).join(",")}`]),
  });
  const [fullchainPem, privkeyPem] = [await Bun.file(crt).text(), await Bun.file(key).text()];
  for (const d of domains)
    saveCertificate(resolvePaths(root).certsDir, d, { fullchainPem, privkeyPem, source: "imported" });
}

const tmp = mkdtempSync(join(tmpdir(), "odooops-bench-console-"));
const root = join(tmp, "root");
try {
  // First start creates the state; the seed goes in while it is stopped.
  await (await startDaemon(root)).stop();
  seedEnvironments(root, ENVS);
  await seedCertificates(root, tmp);
  const daemon = await startDaemon(root);
  try {
    const login = await get(`${daemon.url}/login`, {});
    const nonce = /name="_csrf" value="([^"]+)"/.exec(login.body.toString())?.[1] ?? "";
    const form = new URLSearchParams({ _csrf: nonce, username: "admin", password: ADMIN_PASSWORD }).toString();
    const loggedIn = await get(
      `${daemon.url}/login`,
      { cookie: cookiesOf(login), "content-type": "application/x-www-form-urlencoded" },
      "POST",
      form,
    );
    if (loggedIn.status !== 303) throw new Error(`console login answered ${loggedIn.status}`);
    const session = cookiesOf(loggedIn);
    const page = () => get(`${daemon.url}/`, { cookie: session, "accept-encoding": "gzip" });
    const list = () =>
      get(`${daemon.url}/api/v1/environments`, { authorization: `Bearer ${daemon.token}`, "accept-encoding": "gzip" });

    // RSS with the API as warm as it will be (as many list requests as the timed loop makes) and the
    // console not yet serving, then after serving it: the difference is the console's.
    for (let i = 0; i < REQUESTS; i++) await list();
    await Bun.sleep(IDLE_MS);
    const rssBefore = procStatusBytes(daemon.pid, "VmRSS");
    for (let i = 0; i < WARMUP; i++) await page();

    const timed = async (fn: () => Promise<Raw>) => {
      const t0 = performance.now();
      const r = await fn();
      if (r.status !== 200) throw new Error(`answered ${r.status}`);
      return performance.now() - t0;
    };
    const pageMs: number[] = [];
    const listMs: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      pageMs.push(await timed(page));
      listMs.push(await timed(list));
    }
    await Bun.sleep(IDLE_MS);
    const rssAfter = procStatusBytes(daemon.pid, "VmRSS");

    const first = await page();
    const html = new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(first.body)));
    if (!html.includes("bench-0099")) throw new Error("the page does not list the 100 envs");
    // 40-day certificates: "39 d" (or 40 d within the first seconds), read from the index, not the files.
    if (!/>(39|40) d</.test(html)) throw new Error("the page shows no certificate days");
    const assets = [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+\.(?:css|js))"/g)].map((m) => m[1] as string);
    let assetBytes = 0;
    for (const a of assets) assetBytes += (await get(`${daemon.url}${a}`, { "accept-encoding": "gzip" })).bytes;
    const total = first.bytes + assetBytes;

    const [p, l] = [sorted(pageMs), sorted(listMs)];
    const p95 = percentile(p, 95);
    printTable(
      `console first page, ${ENVS} envs, ${REQUESTS} requests each (interleaved), dist/odooops on loopback`,
      ["measure", "console GET /", "baseline: API JSON list", "ratio", "target", ""],
      [
        ["p50", ms(percentile(p, 50)), ms(percentile(l, 50)), ratio(percentile(p, 50), percentile(l, 50)), "", ""],
        ["p95", ms(p95), ms(percentile(l, 95)), ratio(p95, percentile(l, 95)), "< 20 ms", verdict(p95 < 20)],
        ["max", ms(p[p.length - 1] ?? Number.NaN), ms(l[l.length - 1] ?? Number.NaN), "", "", ""],
        [
          "transferred (gzip)",
          `${(total / 1024).toFixed(1)} KB (page ${(first.bytes / 1024).toFixed(1)} KB + ${assets.length} assets ${(assetBytes / 1024).toFixed(1)} KB)`,
          "",
          "",
          "< 100 KB",
          verdict(total < 100 * 1024),
        ],
        [
          "daemon idle RSS",
          `${mb(rssAfter)} after console traffic`,
          `${mb(rssBefore)} after the same API traffic only`,
          `+${mb(rssAfter - rssBefore)}`,
          "< +5 MB",
          verdict(rssAfter - rssBefore < 5 * 1024 * 1024),
        ],
      ],
    );
  } finally {
    await daemon.stop();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
