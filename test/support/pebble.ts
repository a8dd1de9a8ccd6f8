/**
 * Test harness: Let's Encrypt's test CA (pebble, Debian package) plus pebble-challtestsrv as its
 * DNS server, on free loopback ports in a temp dir. Validation is real: pebble's VA resolves the
 * test domains through challtestsrv (only names added with `addHost` resolve, so a "DNS does not
 * point here" case is just a name that was never added) and fetches
 * http://<domain>:<httpPort>/.well-known/acme-challenge/<token> — httpPort is the test nginx.
 *
 * Debian's pebble ships no certificate for its own HTTPS listener: an openssl-made CA + leaf
 * (SAN IP:127.0.0.1, DNS:localhost) is generated per start; `listenerCaPem` is what ACME
 * clients must trust. `issuerRootPem()` is the root pebble signs issued certificates with.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, spawnStreaming } from "../../src/exec/run";
import { freePort } from "./ports";
import { makeTempDir, removeTempDir } from "./tmp";

export interface StartPebbleOptions {
  /** Port pebble's VA uses for HTTP-01 (the test nginx's HTTP port). */
  httpPort: number;
}

export interface TestPebble {
  directoryUrl: string;
  /** CA of pebble's HTTPS listener (not of the certificates it issues). */
  listenerCaPem: string;
  /** Root of the certificates pebble issues (fresh per pebble start). */
  issuerRootPem(): Promise<string>;
  /** Makes `name` resolve (A record) to `ip` for pebble's VA. */
  addHost(name: string, ip?: string): Promise<void>;
  /** Makes `name` unresolvable again. */
  removeHost(name: string): Promise<void>;
  /** Recent pebble/challtestsrv output, for failure messages. */
  output(): string;
  /** Stops both processes and removes the temp dir; safe to call twice. */
  stop(): Promise<void>;
}

type Proc = ReturnType<typeof spawnStreaming>;

/** Both servers log every request to stdout: drain it, or a full pipe blocks them. */
function drain(p: Proc, keep: { text: string }, name: string): void {
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of p.stdout) {
      keep.text = (keep.text + `[${name}] ` + decoder.decode(chunk)).slice(-20_000);
    }
  })().catch(() => undefined);
}

async function makeListenerCert(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => join(dir, n);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await run({
    argv: [
      "openssl",
      "req",
      "-x509",
      ...ec,
      "-keyout",
      f("ca.key"),
      "-out",
      f("ca.pem"),
      "-days",
      "2",
      "-subj",
      "/CN=odooops test pebble listener CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
  });
  await run({
    argv: ["openssl", "req", ...ec, "-keyout", f("leaf.key"), "-out", f("leaf.csr"), "-subj", "/CN=localhost"],
  });
  writeFileSync(
    f("leaf.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await run({
    argv: [
      "openssl",
      "x509",
      "-req",
      "-in",
      f("leaf.csr"),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-out",
      f("leaf.pem"),
      "-days",
      "2",
      "-extfile",
      f("leaf.ext"),
    ],
  });
  return { ca: f("ca.pem"), cert: f("leaf.pem"), key: f("leaf.key") };
}

async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  log: () => string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await Bun.sleep(50);
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms\n${log()}`);
}

export async function startPebble(opts: StartPebbleOptions): Promise<TestPebble> {
  const dir = makeTempDir("odooops-pebble-");
  const log = { text: "" };
  const procs: Proc[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off("exit", killOnExit);
    for (const p of procs) p.proc.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.proc.exited));
    removeTempDir(dir);
  };
  const killOnExit = () => {
    for (const p of procs) p.proc.kill("SIGKILL");
  };
  process.on("exit", killOnExit);
  try {
    const tls = await makeListenerCert(dir);
    const listenerCaPem = readFileSync(tls.ca, "utf8");
    const [acmePort, mgmtPort, dnsPort, chalMgmtPort, tlsPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const config = join(dir, "pebble-config.json");
    writeFileSync(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: tls.cert,
          privateKey: tls.key,
          httpPort: opts.httpPort,
          tlsPort,
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
        },
      }),
    );

    // Empty defaults: a name resolves only once addHost() gave it an address.
    const chal = spawnStreaming({
      argv: [
        "pebble-challtestsrv",
        "-dns01",
        `127.0.0.1:${dnsPort}`,
        "-http01",
        "",
        "-https01",
        "",
        "-tlsalpn01",
        "",
        "-management",
        `127.0.0.1:${chalMgmtPort}`,
        "-defaultIPv4",
        "",
        "-defaultIPv6",
        "",
      ],
    });
    procs.push(chal);
    drain(chal, log, "challtestsrv");
    // No artificial VA sleeps, no random nonce rejections, and no authorization reuse: every
    // order is validated over HTTP for real (renewals included).
    const env = { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" };
    const pebble = spawnStreaming({
      argv: ["pebble", "-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`],
      env,
      cwd: dir,
    });
    procs.push(pebble);
    drain(pebble, log, "pebble");

    const chalUrl = `http://127.0.0.1:${chalMgmtPort}`;
    const mgmtUrl = `https://127.0.0.1:${mgmtPort}`;
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    const fetchTls = { tls: { ca: listenerCaPem } };
    await waitUntil(
      "pebble-challtestsrv",
      async () => (await fetch(`${chalUrl}/`)).status > 0,
      () => log.text,
    );
    await waitUntil(
      "pebble",
      async () => (await fetch(directoryUrl, fetchTls)).ok,
      () => log.text,
    );

    return {
      directoryUrl,
      listenerCaPem,
      async issuerRootPem() {
        const r = await fetch(`${mgmtUrl}/roots/0`, fetchTls);
        if (!r.ok) throw new Error(`pebble /roots/0: HTTP ${r.status}`);
        return r.text();
      },
      async addHost(name, ip = "127.0.0.1") {
        const r = await fetch(`${chalUrl}/add-a`, {
          method: "POST",
          body: JSON.stringify({ host: name, addresses: [ip] }),
        });
        if (!r.ok) throw new Error(`challtestsrv add-a ${name}: HTTP ${r.status} ${await r.text()}`);
      },
      async removeHost(name) {
        const r = await fetch(`${chalUrl}/clear-a`, { method: "POST", body: JSON.stringify({ host: name }) });
        if (!r.ok) throw new Error(`challtestsrv clear-a ${name}: HTTP ${r.status} ${await r.text()}`);
      },
      output: () => log.text,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
