import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server as NetServer } from "node:net";
import { join } from "node:path";
import { CommandFailed, Invalid } from "../../src/errors";
import {
  groupGid,
  htpasswdFile,
  htpasswdLine,
  listVhosts,
  nginx,
  reload,
  removeVhost,
  renderMainConfig,
  renderVhost,
  sha512Crypt,
  writeHtpasswd,
  writeVhost,
  type NginxHost,
  type VhostSpec,
} from "../../src/host/nginx";
import { pidFileOf } from "../../src/host/nginx/ops";
import { freePort } from "../support/ports";
import { startNginx, type TestNginx } from "../support/nginx";
import { randomSuffix } from "../support/tmp";

/** bunfig's [test] timeout is not applied by bun 1.4.5: integration steps say it themselves. */
const SLOW = 120_000;

const base: VhostSpec = {
  slug: "shop-staging",
  serverNames: ["shop.staging.example.com", "www.shop.example.com"],
  listenPort: 80,
  httpPort: 20001,
  longpollPort: 20002,
  acmeWebroot: "/var/lib/odooops/acme-webroot",
  logDir: "/var/lib/odooops/logs/nginx",
  clientMaxBodySize: "128m",
};

describe("nginx rendering", () => {
  test(
    "plain HTTP vhost",
    () => {
      const t = renderVhost(base);
      expect(t).toContain("upstream odooops_shop-staging_http {\n    server 127.0.0.1:20001;\n    keepalive 8;\n}");
      expect(t).toContain("upstream odooops_shop-staging_longpoll {\n    server 127.0.0.1:20002;\n}");
      expect(t).toContain("    listen 80;\n    server_name shop.staging.example.com www.shop.example.com;\n");
      expect(t).toContain(
        "    access_log /var/lib/odooops/logs/nginx/shop-staging.access.log;\n    error_log /var/lib/odooops/logs/nginx/shop-staging.error.log;\n",
      );
      expect(t).toContain(
        "    location ^~ /.well-known/acme-challenge/ {\n        root /var/lib/odooops/acme-webroot;\n",
      );
      expect(t).toContain("    client_max_body_size 128m;\n    proxy_read_timeout 720s;\n");
      expect(t).toContain("    gzip on;\n");
      expect(t).toContain(
        "gzip_types text/css text/scss text/plain text/xml application/xml application/json application/javascript image/svg+xml;",
      );
      expect(t).toContain(
        '    location /websocket {\n        proxy_pass http://odooops_shop-staging_longpoll;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection "upgrade";\n',
      );
      expect(t).toContain(
        '    location / {\n        proxy_pass http://odooops_shop-staging_http;\n        proxy_set_header Connection "";\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-Host $host;\n        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        proxy_set_header X-Forwarded-Proto $scheme;\n        proxy_set_header X-Real-IP $remote_addr;\n    }\n}\n',
      );
      expect(t).not.toContain("ssl");
      expect(t).not.toContain("&#x2F;"); // no HTML escaping
      expect(t.match(/^server \{/gm)).toHaveLength(1);
    },
    SLOW,
  );

  test("threaded Odoo (no gevent port): no longpoll upstream, /websocket to the HTTP port with upgrade headers", () => {
    const t = renderVhost({ ...base, longpollPort: null });
    expect(t).not.toContain("_longpoll");
    expect(t).toContain(
      "upstream odooops_shop-staging_http {\n    server 127.0.0.1:20001;\n    keepalive 8;\n}\n\nserver {",
    );
    expect(t).toContain(
      '    location /websocket {\n        proxy_pass http://odooops_shop-staging_http;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection "upgrade";\n',
    );
  });

  test(
    "TLS vhost: HTTP keeps ACME and redirects, 443 serves with TLS 1.2/1.3 and optional HSTS",
    () => {
      const tls = {
        certFile: "/var/lib/odooops/certs/shop/fullchain.pem",
        keyFile: "/var/lib/odooops/certs/shop/key.pem",
        hsts: true,
        httpsPort: 443,
      };
      const t = renderVhost({ ...base, tls });
      expect(t.match(/^server \{/gm)).toHaveLength(2);
      expect(t).toContain(
        "        default_type text/plain;\n    }\n\n    location / {\n        return 301 https://$host$request_uri;\n    }\n}\n",
      );
      expect(t).toContain(
        "    listen 443 ssl http2;\n    server_name shop.staging.example.com www.shop.example.com;\n",
      );
      expect(t).toContain(
        "    ssl_certificate /var/lib/odooops/certs/shop/fullchain.pem;\n    ssl_certificate_key /var/lib/odooops/certs/shop/key.pem;\n    ssl_protocols TLSv1.2 TLSv1.3;\n",
      );
      expect(t).toContain('    add_header Strict-Transport-Security "max-age=31536000" always;\n');
      expect(renderVhost({ ...base, tls: { ...tls, hsts: false } })).not.toContain("Strict-Transport-Security");
    },
    SLOW,
  );

  test(
    "values that could inject directives are refused",
    () => {
      expect(() => renderVhost({ ...base, slug: "Shop" })).toThrow(Invalid);
      expect(() => renderVhost({ ...base, serverNames: ["a.com; include /etc/passwd"] })).toThrow(Invalid);
      expect(() => renderVhost({ ...base, serverNames: [] })).toThrow(Invalid);
      expect(() => renderVhost({ ...base, acmeWebroot: "/x;}" })).toThrow(Invalid);
      expect(() => renderVhost({ ...base, logDir: "relative/dir" })).toThrow(Invalid);
      expect(() => renderVhost({ ...base, clientMaxBodySize: "1m;" })).toThrow(Invalid);
      expect(() => renderVhost({ ...base, httpPort: 70000 })).toThrow(Invalid);
      expect(renderVhost({ ...base, serverNames: ["*.preview.example.com"] })).toContain(
        "server_name *.preview.example.com;",
      );
    },
    SLOW,
  );

  test(
    "access: basic auth and/or an allowlist on the serving server; ACME and /web/health exempt; none without access",
    () => {
      const file = "/var/lib/odooops/nginx/sites/shop-staging.htpasswd";
      const t = renderVhost({ ...base, access: { htpasswdFile: file, allow: [] } });
      expect(t).toContain("        default_type text/plain;\n        auth_basic off;\n        allow all;\n    }\n");
      expect(t).toContain(
        `    # Not public (odooops' access settings for this tier): ACME challenges and /web/health stay open.\n    auth_basic "shop-staging";\n    auth_basic_user_file ${file};\n\n    client_max_body_size 128m;\n`,
      );
      expect(t).toContain(
        "    location = /web/health {\n        auth_basic off;\n        allow all;\n        proxy_pass http://odooops_shop-staging_http;\n",
      );
      expect(t).not.toContain("satisfy");
      expect(t).not.toContain("deny all");
      const both = renderVhost({ ...base, access: { htpasswdFile: file, allow: ["203.0.113.0/24", "2001:db8::/32"] } });
      expect(both).toContain(
        `    satisfy any;\n    allow 203.0.113.0/24;\n    allow 2001:db8::/32;\n    deny all;\n    auth_basic "shop-staging";\n`,
      );
      const ipOnly = renderVhost({ ...base, access: { allow: ["198.51.100.7"] } });
      expect(ipOnly).toContain("    allow 198.51.100.7;\n    deny all;\n\n    client_max_body_size");
      expect(ipOnly).not.toContain('auth_basic "');
      // TLS: the HTTPS server is the protected one; plain HTTP only redirects (and keeps ACME, health open).
      const tls = renderVhost({
        ...base,
        access: { htpasswdFile: file, allow: [] },
        tls: { certFile: "/c/f.pem", keyFile: "/c/k.pem", hsts: false, httpsPort: 443 },
      });
      expect(tls.split("listen 443")[1]).toContain(`auth_basic_user_file ${file};`);
      expect(tls.split("listen 443")[0]).not.toContain("auth_basic_user_file");
      // Production (no access): exactly the public vhost.
      expect(renderVhost(base)).not.toContain("auth_basic");
      expect(() => renderVhost({ ...base, access: { allow: ["10.0.0.0/8; deny all"] } })).toThrow(Invalid);
      expect(() => renderVhost({ ...base, access: { allow: [] } })).toThrow(Invalid);
      expect(() => renderVhost({ ...base, access: { htpasswdFile: "rel/x", allow: [] } })).toThrow(Invalid);
    },
    SLOW,
  );

  test(
    "SHA-512 crypt as crypt(3) computes it; htpasswd lines",
    () => {
      // Drepper's published test vector (also `openssl passwd -6 -salt saltstring 'Hello world!'`).
      expect(sha512Crypt("Hello world!", "saltstring")).toBe(
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
      );
      expect(
        sha512Crypt("a-longer-password-that-exceeds-sixty-four-bytes-for-sure-yes-indeed-xyz", "0123456789abcdef"),
      ).toBe(
        "$6$0123456789abcdef$s0u40Z1w1aUWNXaEO0rSx.NYkJSGkBnC0FW04PCXTi.RLcQXVjuymgWLc1nHbJIAxMDdStpS1L3VbvVSlnRkh1",
      );
      expect(sha512Crypt("x")).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
      expect(htpasswdLine("shop", "pw", "abc")).toBe(`shop:${sha512Crypt("pw", "abc")}\n`);
      expect(() => htpasswdLine("a:b", "pw")).toThrow(Invalid);
      expect(() => sha512Crypt("pw", "bad$salt")).toThrow(Invalid);
    },
    SLOW,
  );

  test(
    "main config",
    () => {
      const t = renderMainConfig({
        configFile: "/srv/o/nginx/nginx.conf",
        listenPort: 8080,
        sitesDir: "/srv/o/nginx/sites",
        runDir: "/srv/o/run",
        logDir: "/srv/o/logs",
        tempDir: "/srv/o/tmp",
        workerProcesses: 2,
        user: "www-data",
      });
      expect(t).toContain(
        "user www-data;\nworker_processes 2;\npid /srv/o/run/nginx.pid;\nerror_log /srv/o/logs/error.log;\n",
      );
      expect(t).toContain("    include /etc/nginx/mime.types;\n");
      expect(t).toContain("    client_body_temp_path /srv/o/tmp/client_body;\n    proxy_temp_path /srv/o/tmp/proxy;\n");
      expect(t).toContain(
        "        listen 8080 default_server;\n        server_name _;\n        access_log off;\n        return 444;\n",
      );
      expect(t).toContain("    include /srv/o/nginx/sites/*.conf;\n}\n");
      const noUser = renderMainConfig({
        configFile: "/a/n.conf",
        listenPort: 80,
        sitesDir: "/a/s",
        runDir: "/a/r",
        logDir: "/a/l",
        tempDir: "/a/t",
      });
      expect(noUser).toStartWith("# Main configuration");
      expect(noUser).not.toContain("user ");
      expect(noUser).toContain("worker_processes auto;\n");
    },
    SLOW,
  );

  test(
    "command builders",
    () => {
      const n = nginx({ binary: "/usr/sbin/nginx", configFile: "/etc/nginx/nginx.conf" });
      expect(n.test().argv).toEqual(["/usr/sbin/nginx", "-t", "-q", "-c", "/etc/nginx/nginx.conf"]);
      expect(n.reload().argv).toEqual(["/usr/sbin/nginx", "-s", "reload", "-c", "/etc/nginx/nginx.conf"]);
      expect(n.start().argv).toEqual(["/usr/sbin/nginx", "-c", "/etc/nginx/nginx.conf"]);
      expect(n.quit().argv).toEqual(["/usr/sbin/nginx", "-s", "quit", "-c", "/etc/nginx/nginx.conf"]);
    },
    SLOW,
  );
});

interface Seen {
  name: string;
  path: string;
  headers: Record<string, string>;
}

describe("nginx against a real instance", () => {
  let ng: TestNginx;
  let host: NginxHost;
  const servers: Server<undefined>[] = [];
  const seen: Seen[] = [];
  let blocker: NetServer | undefined;
  const slug = `t-${randomSuffix()}`;
  const domain = `${slug}.test.localhost`;
  let spec: VhostSpec;

  const upstream = (name: string) => {
    const s = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const url = new URL(req.url);
        seen.push({ name, path: url.pathname, headers: Object.fromEntries(req.headers) });
        if (url.pathname === "/big")
          return new Response("odoo ".repeat(2000), { headers: { "content-type": "text/plain" } });
        return new Response(`${name} ${url.pathname}`);
      },
    });
    servers.push(s);
    return s.port as number;
  };
  const get = (path: string, init: RequestInit & { hostHeader?: string } = {}) =>
    fetch(`http://127.0.0.1:${ng.port}${path}`, {
      keepalive: false,
      ...init,
      headers: { Host: init.hostHeader ?? domain, ...(init.headers as Record<string, string>) },
    });

  beforeAll(async () => {
    ng = await startNginx();
    host = { binary: ng.binary, configFile: ng.configFile, sitesDir: ng.sitesDir };
    spec = {
      slug,
      serverNames: [domain],
      listenPort: ng.port,
      httpPort: upstream("http-1"),
      longpollPort: upstream("longpoll"),
      acmeWebroot: ng.acmeWebroot,
      logDir: ng.logDir,
      clientMaxBodySize: "1m",
    };
  }, SLOW);

  afterAll(async () => {
    for (const s of servers) s.stop(true);
    blocker?.close();
    await ng?.stop();
  }, SLOW);

  test(
    "vhost written, tested, reloaded; requests reach the upstream with proxy headers",
    async () => {
      expect(await writeVhost(host, slug, renderVhost(spec))).toBe(true);
      expect(await writeVhost(host, slug, renderVhost(spec))).toBe(false);
      expect(listVhosts(host)).toEqual([slug]);
      expect(pidFileOf(ng.configFile)).toBe(join(ng.dir, "run", "nginx.pid"));
      await reload(host);
      const r = await get("/web/health", { headers: { "X-Forwarded-For": "203.0.113.7" } });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe("http-1 /web/health");
      const h = seen.at(-1)!.headers;
      expect(h.host).toBe(domain);
      expect(h["x-forwarded-host"]).toBe(domain);
      expect(h["x-forwarded-proto"]).toBe("http");
      expect(h["x-real-ip"]).toBe("127.0.0.1");
      expect(h["x-forwarded-for"]).toBe("203.0.113.7, 127.0.0.1");
    },
    SLOW,
  );

  test(
    "/websocket goes to the longpolling upstream with upgrade headers",
    async () => {
      const r = await get("/websocket", { headers: { Upgrade: "websocket", Connection: "Upgrade" } });
      expect(await r.text()).toBe("longpoll /websocket");
      const h = seen.at(-1)!.headers;
      expect(h.upgrade).toBe("websocket");
      expect(h.connection).toBe("upgrade");
    },
    SLOW,
  );

  test(
    "ACME challenges are served from the webroot, not proxied",
    async () => {
      const dir = join(ng.acmeWebroot, ".well-known", "acme-challenge");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "tok123"), "tok123.thumb");
      const before = seen.length;
      const r = await get("/.well-known/acme-challenge/tok123");
      expect(r.status).toBe(200);
      expect(await r.text()).toBe("tok123.thumb");
      expect(seen.length).toBe(before);
    },
    SLOW,
  );

  test(
    "gzip for text, client_max_body_size enforced, unknown hosts dropped",
    async () => {
      const big = await get("/big", { headers: { "Accept-Encoding": "gzip" } });
      expect(big.headers.get("content-encoding")).toBe("gzip");
      await big.arrayBuffer();
      const tooBig = await get("/upload", { method: "POST", body: "x".repeat(2 * 1024 * 1024) });
      expect(tooBig.status).toBe(413);
      await expect(get("/", { hostHeader: "unknown.example.com" })).rejects.toThrow();
    },
    SLOW,
  );

  test(
    "a broken vhost is rejected with nginx's message; the old one keeps serving",
    async () => {
      const good = readFileSync(join(ng.sitesDir, `${slug}.conf`), "utf8");
      const err = await writeVhost(host, slug, `${good}\nbogus_directive on;\n`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CommandFailed);
      expect((err as CommandFailed).stderrTail).toContain('unknown directive "bogus_directive"');
      expect(readFileSync(join(ng.sitesDir, `${slug}.conf`), "utf8")).toBe(good);
      expect(existsSync(join(ng.sitesDir, `${slug}.conf.tmp`))).toBe(false);
      const fresh = `${slug}-new`;
      await expect(writeVhost(host, fresh, "server { listen ; }")).rejects.toBeInstanceOf(CommandFailed);
      expect(listVhosts(host)).toEqual([slug]);
      await reload(host);
      expect(await (await get("/web/login")).text()).toBe("http-1 /web/login");
    },
    SLOW,
  );

  test(
    "switching the upstream port takes effect after reload",
    async () => {
      const next = { ...spec, httpPort: upstream("http-2") };
      expect(await writeVhost(host, slug, renderVhost(next))).toBe(true);
      await reload(host);
      expect(await (await get("/web/health")).text()).toBe("http-2 /web/health");
      spec = next;
    },
    SLOW,
  );

  test(
    "a reload the master cannot apply is reported, not assumed",
    async () => {
      const busy = await freePort("0.0.0.0");
      blocker = createServer();
      await new Promise<void>((ok) => blocker!.listen(busy, "0.0.0.0", ok));
      const other = `${slug}-busy`;
      // nginx -t does not bind ports, so this passes the test and fails only in the master.
      expect(
        await writeVhost(
          host,
          other,
          renderVhost({ ...spec, slug: other, serverNames: [`busy.${domain}`], listenPort: busy }),
        ),
      ).toBe(true);
      const err = await reload(host, 3000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CommandFailed);
      expect((err as Error).message).toContain("did not apply");
      expect(await removeVhost(host, other)).toBe(true);
      await reload(host);
      expect(await (await get("/web/health")).text()).toBe("http-2 /web/health");
    },
    SLOW,
  );

  test(
    "removeVhost + reload stops serving the domain",
    async () => {
      expect(await removeVhost(host, slug)).toBe(true);
      expect(await removeVhost(host, slug)).toBe(false);
      await reload(host);
      await expect(get("/web/health")).rejects.toThrow();
    },
    SLOW,
  );
});

describe("access rules against a real nginx", () => {
  let ng: TestNginx;
  let host: NginxHost;
  let upstreamServer: Server<undefined>;
  const password = `pw-${randomSuffix(12)}`;
  const vhost = (slug: string, access: VhostSpec["access"]): VhostSpec => ({
    slug,
    serverNames: [`${slug}.test.localhost`],
    listenPort: ng.port,
    httpPort: upstreamServer.port as number,
    longpollPort: upstreamServer.port as number,
    acmeWebroot: ng.acmeWebroot,
    logDir: ng.logDir,
    clientMaxBodySize: "1m",
    access,
  });
  const get = (slug: string, path: string, auth?: string) =>
    fetch(`http://127.0.0.1:${ng.port}${path}`, {
      keepalive: false,
      redirect: "manual",
      headers: {
        Host: `${slug}.test.localhost`,
        ...(auth ? { authorization: `Basic ${Buffer.from(auth).toString("base64")}` } : {}),
      },
    });

  beforeAll(async () => {
    ng = await startNginx();
    host = { binary: ng.binary, configFile: ng.configFile, sitesDir: ng.sitesDir };
    upstreamServer = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => new Response(`odoo ${new URL(req.url).pathname}`),
    });
    mkdirSync(join(ng.acmeWebroot, ".well-known", "acme-challenge"), { recursive: true });
    writeFileSync(join(ng.acmeWebroot, ".well-known", "acme-challenge", "tok"), "proof");
    // The test nginx's workers run as nobody:nogroup.
    const gid = groupGid("nogroup");
    for (const slug of ["stg", "both"])
      writeHtpasswd(htpasswdFile(ng.sitesDir, slug), htpasswdLine("shop", password), gid);
    await writeVhost(
      host,
      "stg",
      renderVhost(vhost("stg", { htpasswdFile: htpasswdFile(ng.sitesDir, "stg"), allow: [] })),
    );
    await writeVhost(
      host,
      "both",
      renderVhost(vhost("both", { htpasswdFile: htpasswdFile(ng.sitesDir, "both"), allow: ["127.0.0.1"] })),
    );
    await writeVhost(host, "office", renderVhost(vhost("office", { allow: ["192.0.2.0/24"] })));
    await writeVhost(host, "prod", renderVhost(vhost("prod", undefined)));
    await reload(host);
  }, SLOW);

  afterAll(async () => {
    upstreamServer?.stop(true);
    await ng?.stop();
  }, SLOW);

  test(
    "a protected vhost: 401 without or with wrong credentials, 200 with the project's; ACME and /web/health open",
    async () => {
      expect((await get("stg", "/web/login")).status).toBe(401);
      expect((await get("stg", "/web/login")).headers.get("www-authenticate")).toBe('Basic realm="stg"');
      expect((await get("stg", "/web/login", "shop:admin")).status).toBe(401);
      expect((await get("stg", "/websocket")).status).toBe(401);
      const ok = await get("stg", "/web/login", `shop:${password}`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe("odoo /web/login");
      const acme = await get("stg", "/.well-known/acme-challenge/tok");
      expect([acme.status, await acme.text()]).toEqual([200, "proof"]);
      expect((await get("stg", "/web/health?db_server_status=1")).status).toBe(200);
    },
    SLOW,
  );

  test(
    "allowlists: an allowed address gets in without the password; others are refused (ACME still open)",
    async () => {
      expect((await get("both", "/web/login")).status).toBe(200);
      expect((await get("office", "/web/login")).status).toBe(403);
      expect((await get("office", "/.well-known/acme-challenge/tok")).status).toBe(200);
    },
    SLOW,
  );

  test(
    "production (no access rules) answers without credentials; removing the vhost removes its user file",
    async () => {
      expect((await get("prod", "/web/login")).status).toBe(200);
      expect(existsSync(htpasswdFile(ng.sitesDir, "stg"))).toBe(true);
      expect(await removeVhost(host, "stg")).toBe(true);
      expect(existsSync(htpasswdFile(ng.sitesDir, "stg"))).toBe(false);
    },
    SLOW,
  );
});
