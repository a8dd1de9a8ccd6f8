import { Cron } from "croner";
import { z } from "zod";
import { AcmeSettingsSchema, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from "../host/acme/settings";
import { ALLOW_ADDRESS } from "../host/nginx/render";
import { S3TargetSchema } from "../host/s3/schema";
import { isIpOrCidr } from "./ip-ranges";
import { errorText } from "../errors";
import { TIERS } from "../env/vocabulary";

const tierDefaults = {
  dev: {
    subdomain: "dev",
    workers: 0,
    cpus: 1,
    memoryMb: 1024,
    storageGb: 10,
    maxEnvs: 20,
    demo: true,
    maxCronThreads: 1,
  },
  dev_ephemeral: {
    subdomain: "preview",
    workers: 0,
    cpus: 1,
    memoryMb: 1024,
    storageGb: 5,
    maxEnvs: 20,
    demo: true,
    maxCronThreads: 1,
  },
  staging: {
    subdomain: "staging",
    workers: 2,
    cpus: 2,
    memoryMb: 2048,
    storageGb: 20,
    maxEnvs: 10,
    demo: false,
    maxCronThreads: 1,
  },
  production: {
    subdomain: "",
    workers: 9,
    cpus: 4,
    memoryMb: 4096,
    storageGb: 100,
    maxEnvs: 5,
    demo: false,
    maxCronThreads: 2,
  },
} as const;

export const TierName = z.enum(TIERS);
export type TierName = z.infer<typeof TierName>;

const Tier = (d: (typeof tierDefaults)[TierName]) =>
  z
    .object({
      /** Hostnames are `<slug>.<subdomain>.<baseDomain>` (`<slug>.<baseDomain>` when empty). */
      subdomain: z
        .string()
        .regex(/^([a-z0-9-]+(\.[a-z0-9-]+)*)?$/, "lowercase DNS labels")
        .default(d.subdomain),
      /** Odoo HTTP workers (0 = threaded). Production: the cap for Odoo's 2 × CPU + 1 rule. */
      workers: z.number().int().min(0).max(64).default(d.workers),
      cpus: z.number().positive().max(64).default(d.cpus),
      memoryMb: z.number().int().min(256).default(d.memoryMb),
      storageGb: z.number().positive().default(d.storageGb),
      maxEnvs: z.number().int().min(0).default(d.maxEnvs),
      demo: z.boolean().default(d.demo),
      maxCronThreads: z.number().int().min(0).max(16).default(d.maxCronThreads),
    })
    .strict()
    .prefault({});

/**
 * Who may open an env's site, per tier. Non-production tiers ask for the project's credentials
 * (HTTP basic auth; `odooops project access NAME` shows them) unless `basicAuth: false` is set;
 * `allow` lets addresses in without them (or, with `basicAuth: false`, lets only them in).
 * ACME challenges and /web/health are always open. Production is public by default.
 */
const TierAccess = (basicAuth: boolean) =>
  z
    .object({
      basicAuth: z.boolean().default(basicAuth),
      allow: z
        .array(z.string().regex(ALLOW_ADDRESS, "an IPv4/IPv6 address or CIDR, e.g. 203.0.113.0/24"))
        .max(100)
        .default([]),
    })
    .strict()
    .prefault({});

/** Grandfather-father-son: newest completed backup per day / ISO week / month, plus the `last` newest. */
const retentionDefaults: Record<TierName, { daily: number; weekly: number; monthly: number; last: number }> = {
  dev: { daily: 3, weekly: 0, monthly: 0, last: 0 },
  dev_ephemeral: { daily: 3, weekly: 0, monthly: 0, last: 0 },
  staging: { daily: 7, weekly: 2, monthly: 1, last: 0 },
  production: { daily: 7, weekly: 4, monthly: 3, last: 4 },
};

const Retention = (d: (typeof retentionDefaults)[TierName]) =>
  z
    .object({
      daily: z.number().int().min(0).max(3660).default(d.daily),
      weekly: z.number().int().min(0).max(520).default(d.weekly),
      monthly: z.number().int().min(0).max(1200).default(d.monthly),
      last: z.number().int().min(0).max(10000).default(d.last),
    })
    .strict()
    .prefault({});

const ACME_DIRECTORIES: Record<string, string> = {
  letsencrypt: LETSENCRYPT_PRODUCTION,
  "letsencrypt-staging": LETSENCRYPT_STAGING,
};

/** When scheduled backups run, per tier: a croner pattern read in UTC, "" = none. */
const scheduleDefaults: Record<TierName, string> = {
  dev: "",
  dev_ephemeral: "",
  staging: "0 3 * * *",
  production: "0 */6 * * *",
};

/** A croner pattern read in UTC, "" = never. */
const BackupSchedule = (d: string) =>
  z
    .string()
    .default(d)
    .superRefine((pattern, ctx) => {
      if (pattern === "") return;
      try {
        new Cron(pattern, { paused: true, timezone: "UTC" }).stop();
      } catch (e) {
        ctx.addIssue({
          code: "custom",
          message: `invalid cron pattern ${JSON.stringify(pattern)} (${errorText(e)}); e.g. "0 */6 * * *", or "" for none`,
        });
      }
    });

export const ConfigSchema = z
  .object({
    role: z.enum(["standalone", "coordinator", "agent"]).default("standalone"),
    listen: z
      .string()
      .regex(/^[^:\s]+:\d{1,5}$/, "host:port")
      .default("127.0.0.1:8420"),
    /** URL other machines (GitHub, agents) use to reach this coordinator. */
    publicUrl: z.string().url().optional(),
    baseDomain: z
      .string()
      .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)*$/, "a lowercase domain name")
      .default("odoo.localhost"),
    /** Hours an API login (JWT) stays valid. */
    sessionHours: z
      .number()
      .positive()
      .max(24 * 90)
      .default(12),
    api: z
      .object({
        /**
         * Peers whose X-Forwarded-For is believed (IP addresses or CIDR ranges, e.g. a local nginx
         * "127.0.0.1"). Empty: the client address is always the socket's peer.
         */
        trustedProxies: z
          .array(z.string().refine(isIpOrCidr, "an IP address or a CIDR range, e.g. 10.0.0.0/8"))
          .default([]),
        /** Seconds a connection may sit without traffic; streaming routes (job events, log follow) are exempt. Bun allows at most 255. */
        idleTimeoutSec: z.number().int().min(1).max(255).default(60),
        /** Failed logins held in memory per client IP and per username (reset by a daemon restart). */
        loginThrottle: z
          .object({
            /** Failures from one IP (any usernames) before it must wait. */
            maxFailuresPerIp: z.number().int().min(1).max(10_000).default(20),
            /** Failures for one username (from any IP) before it must wait. */
            maxFailuresPerUser: z.number().int().min(1).max(10_000).default(5),
            /** The first wait; each further failure doubles it, up to maxLockoutSec. */
            baseLockoutSec: z.number().min(0.1).max(3600).default(1),
            maxLockoutSec: z.number().min(1).max(86_400).default(900),
            /** A key's failure count is forgotten this long after its last failure. */
            forgetAfterSec: z.number().min(1).max(86_400).default(3600),
          })
          .strict()
          .prefault({}),
        /** Repeated denials of one kind from one IP become one audit row per this window, with a count. */
        denialAuditWindowSec: z.number().min(1).max(86_400).default(300),
      })
      .strict()
      .prefault({}),
    odoo: z
      .object({
        image: z.string().min(1).default("odoo:17.0"),
        modules: z
          .array(z.string().regex(/^[a-z0-9_]+$/))
          .min(1)
          .default(["base"]),
        /**
         * uid:gid owning the filestore and every container runs as (the official image's odoo,
         * 101): never root, whatever USER the image or a repository's Dockerfile sets.
         */
        uid: z.number().int().min(1, "Odoo containers never run as root").default(101),
        gid: z.number().int().min(1, "Odoo containers never run with group root").default(101),
        healthTimeoutSec: z.number().int().positive().default(120),
      })
      .strict()
      .prefault({}),
    postgres: z
      .object({
        /** How odooops itself connects (admin role that may create roles and databases). */
        host: z.string().default("/var/run/postgresql"),
        port: z.number().int().min(1).max(65535).default(5432),
        user: z.string().default("postgres"),
        password: z.string().default(""),
        /**
         * Where odooops logs in as an env's own role to read or sanitize its database ("" = host,
         * or 127.0.0.1 when host is a unix socket). pg_hba must accept scram-sha-256 for env roles there.
         */
        tenantHost: z.string().default(""),
        /** Address the Odoo containers use to reach PostgreSQL. */
        containerHost: z.string().default("host.docker.internal"),
        /** pg_hba.conf odooops keeps its block in ("" = do not manage pg_hba). */
        hbaFile: z.string().default("/etc/postgresql/15/main/pg_hba.conf"),
      })
      .strict()
      .prefault({}),
    docker: z
      .object({
        binary: z.string().default("docker"),
        /** Names of networks and containers start with it; hosts sharing one dockerd need distinct ones. */
        namePrefix: z
          .string()
          .regex(
            /^[a-z][a-z0-9-]{0,29}$/,
            "lowercase letters, digits and '-', starting with a letter, at most 30 characters",
          )
          .default("odooops"),
      })
      .strict()
      .prefault({}),
    nginx: z
      .object({
        binary: z.string().default("nginx"),
        /** Main config file passed to `nginx -t -c` and used for reloads. */
        configFile: z.string().default("/etc/nginx/nginx.conf"),
        /** Port the vhosts listen on for HTTP. */
        httpPort: z.number().int().min(1).max(65535).default(80),
        httpsPort: z.number().int().min(1).max(65535).default(443),
        clientMaxBodySize: z
          .string()
          .regex(/^\d+[kmgKMG]?$/)
          .default("128m"),
        /** The group nginx's workers run as: it reads the basic-auth user files (0640 root:<group>). */
        group: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "a group name")
          .default("www-data"),
      })
      .strict()
      .prefault({}),
    access: z
      .object({
        dev: TierAccess(true),
        dev_ephemeral: TierAccess(true),
        staging: TierAccess(true),
        production: TierAccess(false),
      })
      .strict()
      .prefault({}),
    ports: z
      .object({
        /** Range of loopback ports published for Odoo containers (http + longpolling pairs). */
        from: z.number().int().min(1024).max(65535).default(20000),
        to: z.number().int().min(1024).max(65535).default(29999),
      })
      .strict()
      .prefault({}),
    tiers: z
      .object({
        dev: Tier(tierDefaults.dev),
        dev_ephemeral: Tier(tierDefaults.dev_ephemeral),
        staging: Tier(tierDefaults.staging),
        production: Tier(tierDefaults.production),
      })
      .strict()
      .prefault({}),
    deploy: z
      .object({
        /** Successful releases per env whose images and containers are kept for rollback (besides the current). */
        keepReleases: z.number().int().min(1).max(100).default(5),
        /** Seconds the old release keeps running after nginx switched, for requests in flight. */
        drainSec: z.number().min(0).max(600).default(5),
        /** Seconds a new release has to answer its health check before the deploy fails. */
        healthTimeoutSec: z.number().int().min(5).max(3600).default(120),
        /** Run the repo's addon tests on a throwaway database before anything changes. */
        runTests: z.boolean().default(true),
        /**
         * Before the env's database is touched: update a copy of it with the new image and boot the
         * release on that copy. Skipped (with a note) for databases larger than rehearseMaxDbMb.
         */
        rehearse: z.boolean().default(true),
        rehearseMaxDbMb: z.number().int().min(0).default(2048),
        /** Registry the release images are pushed to after the build, e.g. registry.example.com/acme ("" = none). */
        registry: z
          .string()
          .regex(
            /^([a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*)?$/,
            "a registry host[:port] with an optional path, e.g. registry.example.com/acme",
          )
          .default(""),
        /** Modules installed on first deploy besides the env's own list (empty: none). */
        install: z.array(z.string().regex(/^[a-z0-9_]+$/)).default([]),
        /**
         * Whether the admin who started a deployment may approve it too. Off: a second admin
         * approves (four eyes); turn on for one-person teams.
         */
        selfApproval: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    anonymize: z
      .object({
        /**
         * A host-level anonymization rules file (same format as a project's
         * `.odooops/anonymize.yaml`), merged over the shipped defaults and under the project's
         * file: rules for projects without a repository. "" = none. Checked when the config loads.
         */
        rulesFile: z
          .string()
          .refine((s) => s === "" || s.startsWith("/"), 'an absolute path (or "" for none)')
          .default(""),
        /**
         * Streams an anonymizing copy runs at once (the other tables' rows, each ruled table's),
         * and its index builds (pg_restore -j). 0 = the host's cores, at least 2.
         */
        copyJobs: z.number().int().min(0).max(64).default(0),
      })
      .strict()
      .prefault({}),
    /** Limits on `db import` uploads: they come from users and are never trusted. */
    imports: z
      .object({
        /** Largest upload accepted (MiB); the request is cut off past it. */
        maxUploadMb: z
          .number()
          .int()
          .positive()
          .default(20 * 1024),
        /** Most entries a zip may hold (Odoo filestores reach a few hundred thousand files). */
        maxZipEntries: z.number().int().positive().default(1_000_000),
        /** Largest total a zip may unpack to (MiB): a zip bomb is refused before a byte is written. */
        maxUnpackedMb: z
          .number()
          .int()
          .positive()
          .default(200 * 1024),
      })
      .strict()
      .prefault({}),
    backups: z
      .object({
        local: z
          .object({
            enabled: z.boolean().default(true),
            /** Backups root ("" = <data dir>/backups); a backup is `<dir>/<env slug>/<backup id>/`. */
            dir: z.string().default(""),
          })
          .strict()
          .prefault({}),
        /** Off-host copy; a backup is `completed` only when every configured target verified. */
        s3: S3TargetSchema.optional(),
        /**
         * pg_dump's compression level (0–9). pg_dump's gzip is most of a backup's time: level 1
         * dumps about 3× faster than pg_dump's default (6) for ~17 % more bytes (bench/README.md),
         * so production's backups, pre-deploy backups included, take about a third of the time.
         * The archive stays a plain `pg_dump -Fc` that any `pg_restore` reads.
         */
        compressLevel: z.number().int().min(0).max(9).default(1),
        /**
         * Restore backups whose manifest carries no signature (made before odooops signed them).
         * Off: a backup read back from storage is trusted only when its manifest's HMAC, keyed
         * from this host's secret key, verifies. A manifest signed with another key, or altered,
         * is refused whatever this says.
         */
        acceptUnsignedManifests: z.boolean().default(false),
        /**
         * Days a destroyed environment's backups are kept after it was destroyed (the final
         * pre_destroy backup included): long enough to notice a mistake and restore it with
         * `db restore OLD --backup ID --to NEW`. Then the daily sweep deletes them.
         */
        keepDestroyedDays: z.number().int().min(1).max(3650).default(30),
        retention: z
          .object({
            dev: Retention(retentionDefaults.dev),
            dev_ephemeral: Retention(retentionDefaults.dev_ephemeral),
            staging: Retention(retentionDefaults.staging),
            production: Retention(retentionDefaults.production),
          })
          .strict()
          .prefault({}),
        schedules: z
          .object({
            dev: BackupSchedule(scheduleDefaults.dev),
            dev_ephemeral: BackupSchedule(scheduleDefaults.dev_ephemeral),
            staging: BackupSchedule(scheduleDefaults.staging),
            production: BackupSchedule(scheduleDefaults.production),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** The daemon's log on stderr (journald under systemd). */
    log: z
      .object({
        level: z.enum(["debug", "info", "warn", "error"]).default("info"),
        /** "json": one JSON object per line with `service`, `host` and, on job lines, `job`, `kind`, `env` (for Loki and friends). */
        format: z.enum(["text", "json"]).default("text"),
      })
      .strict()
      .prefault({}),
    /** Traces of jobs and their steps (docs/metrics.md, "Traces"). */
    telemetry: z
      .object({
        /**
         * OTLP/HTTP collector, e.g. `http://127.0.0.1:4318` (`/v1/traces` is added unless the URL
         * ends with it). Unset: no traces, and the OpenTelemetry SDK is never loaded.
         */
        otlpEndpoint: z.url({ protocol: /^https?$/ }).optional(),
        /** Sent with every export, e.g. a hosted collector's API key. */
        otlpHeaders: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .prefault({}),
    /** Uptime, measured (`odooops report`): every serving env probed through nginx. */
    uptime: z
      .object({
        /** When the probes run; every minute by default, "" = never (the report then shows no availability). */
        probeSchedule: BackupSchedule("* * * * *"),
        /** Hours of counts older than this are deleted. */
        keepDays: z.number().int().min(1).max(3650).default(400),
      })
      .strict()
      .prefault({}),
    /** Disaster recovery of the control plane (docs/disaster-recovery.md). */
    dr: z
      .object({
        stateBackups: z
          .object({
            /**
             * When the state (SQLite, config, secret keys) is backed up, encrypted with the
             * recovery key, to the local backup dir and backups.s3: hourly by default, "" = never.
             */
            schedule: BackupSchedule("0 * * * *"),
            /** The 24 newest (a day of hourly backups), then one a day for a week, a week for a month, a month for a quarter. */
            retention: Retention({ daily: 7, weekly: 4, monthly: 3, last: 24 }),
          })
          .strict()
          .prefault({}),
        /**
         * When every production env's newest backup is restored into a throwaway copy and booted
         * (`odooops dr test`): weekly by default (Sunday 04:00 UTC); "off" or "" = never.
         */
        testSchedule: z.preprocess((v) => (v === "off" ? "" : v), BackupSchedule("0 4 * * 0")),
      })
      .strict()
      .prefault({}),
    /**
     * Certificates for env domains from an ACME CA (HTTP-01 through nginx). Off without this
     * block; a block without `enabled` turns it on.
     */
    acme: z
      .object({
        enabled: z.boolean().default(true),
        /** Expiry notices from the CA. */
        email: AcmeSettingsSchema.shape.email,
        /** "letsencrypt" (the default), "letsencrypt-staging", or any ACME directory URL. */
        directoryUrl: z
          .string()
          .transform((v) => ACME_DIRECTORIES[v] ?? v)
          .pipe(
            z.url({ protocol: /^https?$/, error: "letsencrypt, letsencrypt-staging or an http(s) ACME directory URL" }),
          )
          .default(LETSENCRYPT_PRODUCTION),
        caFile: AcmeSettingsSchema.shape.caFile,
        preflight: AcmeSettingsSchema.shape.preflight,
        /** Renew when fewer days of validity remain. */
        renewDays: AcmeSettingsSchema.shape.renewDays,
        /** Tiers whose envs get a certificate when created; others on request (`certs renew <env>`). */
        tiers: z.array(TierName).default(["production", "staging"]),
      })
      .strict()
      .prefault({ enabled: false }),
    /** Commit statuses on GitHub for webhook-triggered deploys; off while tokenFile is "". */
    github: z
      .object({
        /** GitHub REST API base (GitHub Enterprise: https://host/api/v3). */
        apiUrl: z
          .url({ protocol: /^https?$/, error: "an http(s) URL, e.g. https://api.github.com" })
          .default("https://api.github.com"),
        /** File holding a token allowed to write commit statuses ("" = no statuses). */
        tokenFile: z.string().default(""),
        /** Tries per status before it is given up (logged); the deploy never waits for them. */
        statusAttempts: z.number().int().min(1).max(10).default(5),
        /** First retry delay; it doubles each try. */
        retryBaseMs: z.number().int().min(10).max(60_000).default(1000),
        /** Previews of pull requests from forks: off by default, a preview runs the PR's code on this host. */
        previewForks: z.boolean().default(false),
        /** When previews whose pull request is no longer open are destroyed (croner, UTC; "" = never). */
        reconcileSchedule: BackupSchedule("*/15 * * * *"),
      })
      .strict()
      .prefault({}),
    /** The sweep that warns 24 h before an env's expiry and destroys it after (croner, UTC; "" = never). */
    ttl: z
      .object({ sweepSchedule: BackupSchedule("17 4 * * *") })
      .strict()
      .prefault({}),
    /** `db export` zips the CLI did not download (and delete) are deleted this long after they were written. */
    exports: z
      .object({
        expireHours: z.number().min(0.1).max(8760).default(24),
        /** When expired exports are looked for (croner, UTC; "" = never). */
        sweepSchedule: BackupSchedule("41 * * * *"),
      })
      .strict()
      .prefault({}),
    /** The fleet (docs/architecture.md "Fleet"): the coordinator's agent listener, agents' heartbeat. */
    fleet: z
      .object({
        /** Where a coordinator serves the agent API (HTTPS, own certificate). */
        listen: z
          .string()
          .regex(/^[^:\s]+:\d{1,5}$/, "host:port")
          .default("0.0.0.0:8421"),
        /** The agent API's URL as agents reach it (put in join tokens); default from listen and the host name. */
        agentUrl: z.url({ protocol: /^https$/, error: "an https URL, e.g. https://10.0.0.2:8421" }).optional(),
        /** Seconds between an agent's heartbeats; a host is offline after 3 missed ones. */
        heartbeatSec: z.number().min(0.2).max(300).default(10),
        /** A queued job of an env whose host has been offline this long fails instead of waiting (90s, 10m, 2h). */
        offlineJobTimeout: z
          .string()
          .regex(/^[1-9]\d{0,5}[smh]$/, "a duration like 90s, 10m or 2h")
          .default("10m"),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type TierConfig = Config["tiers"][TierName];
