/**
 * nginx configuration from the templates in templates/. Every value is validated against a
 * strict pattern first, and rendered without HTML escaping: a value can never close a directive
 * (`;`), open a block (`{`) or add a line.
 */
import Mustache from "mustache";
import vhostTemplate from "../../../templates/nginx-vhost.mustache" with { type: "text" };
import mainTemplate from "../../../templates/nginx-main.mustache" with { type: "text" };
import { Invalid } from "../../errors";

export interface VhostTls {
  certFile: string;
  keyFile: string;
  /** Strict-Transport-Security for a year; only once the env is known to stay on HTTPS. */
  hsts: boolean;
  httpsPort: number;
}

/** Who may reach a non-public vhost (production is public: no `access`). */
export interface VhostAccess {
  /** auth_basic with this user file (see htpasswd.ts); absent = no password prompt. */
  htpasswdFile?: string;
  /** Addresses or CIDRs let in; with a user file too, they get in without the password. */
  allow: string[];
}

export interface VhostSpec {
  slug: string;
  serverNames: string[];
  /** Port nginx listens on for HTTP (config.nginx.httpPort). */
  listenPort: number;
  /** Published container ports on the upstream host (Odoo http and longpolling/gevent). */
  httpPort: number;
  /**
   * null when Odoo runs threaded (`workers = 0`): real Odoo opens its gevent port only in prefork
   * mode (`odoo/service/server.py` `PreforkServer.long_polling_spawn`; `ThreadedServer`
   * serves `/websocket` on the HTTP port), so /websocket goes to the HTTP port.
   */
  longpollPort: number | null;
  /** Default 127.0.0.1: containers publish on loopback only. */
  upstreamHost?: string;
  acmeWebroot: string;
  logDir: string;
  clientMaxBodySize: string;
  tls?: VhostTls;
  access?: VhostAccess;
}

export interface MainConfigSpec {
  configFile: string;
  listenPort: number;
  sitesDir: string;
  runDir: string;
  logDir: string;
  tempDir: string;
  mimeTypes?: string;
  workerProcesses?: number | "auto";
  /** Worker user when the master runs as root (nginx's default is `nobody`). */
  user?: string;
}

export const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SERVER_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const PATH = /^\/[A-Za-z0-9._\/-]*$/;
const SIZE = /^\d+[kmgKMG]?$/;
const HOST = /^[a-z0-9.-]+$|^\[[0-9a-f:]+\]$/i;
const USER = /^[a-z_][a-z0-9_-]*( [a-z_][a-z0-9_-]*)?$/;
export const ALLOW_ADDRESS =
  /^((25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/([0-9]|[12]\d|3[0-2]))?|[0-9a-f]*:[0-9a-f:]*(\/([0-9]|[1-9]\d|1[01]\d|12[0-8]))?)$/i;

function check(re: RegExp, value: string, what: string): string {
  if (!re.test(value)) throw new Invalid(`nginx: invalid ${what}: ${JSON.stringify(value)}`);
  return value;
}

function port(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Invalid(`nginx: invalid ${what}: ${p}`);
  return p;
}

export function assertSlug(slug: string): string {
  return check(SLUG, slug, "slug");
}

function render(template: string, view: object): string {
  return Mustache.render(template, view, {}, { escape: (s: string) => s });
}

function accessView(a: VhostAccess | undefined) {
  if (!a) return undefined;
  if (!a.htpasswdFile && a.allow.length === 0)
    throw new Invalid("nginx: access needs a user file or addresses to allow");
  return {
    allow: a.allow.map((ip) => check(ALLOW_ADDRESS, ip, "address to allow")),
    // Either is enough: an allowed address gets in without the password.
    satisfyAny: Boolean(a.htpasswdFile) && a.allow.length > 0,
    denyOthers: a.allow.length > 0,
    htpasswdFile: a.htpasswdFile === undefined ? undefined : check(PATH, a.htpasswdFile, "user file"),
  };
}

export function renderVhost(spec: VhostSpec): string {
  if (spec.serverNames.length === 0) throw new Invalid("nginx: a vhost needs at least one server name");
  return render(vhostTemplate, {
    slug: assertSlug(spec.slug),
    serverNames: spec.serverNames.map((n) => check(SERVER_NAME, n, "server name")).join(" "),
    listenPort: port(spec.listenPort, "listen port"),
    httpPort: port(spec.httpPort, "http port"),
    longpoll: spec.longpollPort === null ? undefined : { port: port(spec.longpollPort, "longpoll port") },
    websocketUpstream: spec.longpollPort === null ? "http" : "longpoll",
    upstreamHost: check(HOST, spec.upstreamHost ?? "127.0.0.1", "upstream host"),
    acmeWebroot: check(PATH, spec.acmeWebroot, "ACME webroot"),
    logDir: check(PATH, spec.logDir, "log dir"),
    clientMaxBodySize: check(SIZE, spec.clientMaxBodySize, "client_max_body_size"),
    tls: spec.tls && {
      certFile: check(PATH, spec.tls.certFile, "certificate path"),
      keyFile: check(PATH, spec.tls.keyFile, "key path"),
      hsts: spec.tls.hsts,
      httpsPort: port(spec.tls.httpsPort, "https port"),
    },
    access: accessView(spec.access),
  });
}

export function renderMainConfig(spec: MainConfigSpec): string {
  const workers = spec.workerProcesses ?? "auto";
  if (workers !== "auto" && (!Number.isInteger(workers) || workers < 1))
    throw new Invalid(`nginx: invalid worker_processes: ${workers}`);
  return render(mainTemplate, {
    configFile: check(PATH, spec.configFile, "config file"),
    listenPort: port(spec.listenPort, "listen port"),
    sitesDir: check(PATH, spec.sitesDir, "sites dir"),
    runDir: check(PATH, spec.runDir, "run dir"),
    logDir: check(PATH, spec.logDir, "log dir"),
    tempDir: check(PATH, spec.tempDir, "temp dir"),
    mimeTypes: check(PATH, spec.mimeTypes ?? "/etc/nginx/mime.types", "mime.types path"),
    workerProcesses: String(workers),
    user: spec.user === undefined ? undefined : check(USER, spec.user, "user"),
  });
}
