/** Wire shapes of the fleet: the user API (hosts, join tokens) and the agent API (join, heartbeat). */
import { z } from "@hono/zod-openapi";
import { backups } from "../db/backup.sql";
import { deployments } from "../deploy/deploy.sql";
import { DB_REPLACING_JOBS } from "../deploy/records";
import { ENV_STATUSES, TIERS } from "../env/vocabulary";
import { stepStatuses } from "../jobs/jobs.sql";
import { JobView } from "../jobs/view";
import { GatePlanView } from "../policy/view";
import { displayText } from "../tenant-text";

/** Where the coordinator's agent listener serves the agent API. */
export const AGENT_API_BASE = "/api/v1/agent";

const LabelsSchema = z.record(z.string(), z.string()).openapi({ example: { region: "eu" } });

export const InventorySchema = z
  .object({
    cores: z.number().int().min(0).max(4096),
    memoryMb: z.number().int().min(0),
    diskFreeMb: z.number().int().min(0),
    load: z.number().min(0),
    docker: z.string().max(64).nullable(),
    postgres: z.string().max(64).nullable(),
    nginx: z.string().max(64).nullable(),
    agentVersion: z.string().min(1).max(64),
  })
  .strict()
  .openapi("HostInventory");

export const ContainerSchema = z
  .object({ name: z.string().max(255), state: z.string().max(32), env: z.string().max(64).nullable() })
  .strict();

export const HostViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(["standalone", "coordinator", "agent"]),
    status: z.enum(["online", "offline"]),
    offlineSince: z.string().nullable(),
    draining: z.boolean(),
    labels: LabelsSchema,
    lastHeartbeatAt: z.string().nullable(),
    agentVersion: z.string().nullable(),
    inventory: InventorySchema.nullable(),
    containers: z.array(ContainerSchema),
    envs: z.array(z.string()),
    createdAt: z.string(),
    credentialRotationPending: z.boolean(),
    credentialRotatedAt: z.string().nullable(),
  })
  .openapi("Host");

export const CreateJoinTokenRequest = z
  .object({
    ttl: z.string().max(16).optional().openapi({ description: "how long it is valid: 90s, 15m (default), 2h" }),
    name: z.string().max(63).optional().openapi({ description: "the name the host gets" }),
    labels: LabelsSchema.optional(),
  })
  .strict()
  .openapi("CreateJoinTokenRequest");

export const JoinTokenSchema = z
  .object({
    id: z.string(),
    token: z.string().openapi({ description: "shown once: odooops init --role agent --join-token …" }),
    joinUrl: z.string(),
    fingerprint: z.string(),
    expiresAt: z.string(),
  })
  .openapi("JoinToken");

export const LabelsRequest = z
  .object({ set: LabelsSchema.default({}), remove: z.array(z.string().max(64)).max(32).default([]) })
  .strict()
  .openapi("HostLabelsRequest");

export const DrainRequest = z.object({ draining: z.boolean() }).strict().openapi("HostDrainRequest");

export const RemovalSchema = z
  .object({ host: z.string(), abandonedEnvs: z.array(z.string()), failedJobs: z.number().int() })
  .openapi("HostRemoval");

export const JoinRequest = z
  .object({ token: z.string().min(1).max(1024), name: z.string().min(1).max(63), inventory: InventorySchema })
  .strict();
export const JoinResponse = z.object({
  hostId: z.string(),
  name: z.string(),
  credential: z.string(),
  heartbeatSec: z.number(),
});
const Bytes = z.number().int().min(0).nullable();
export const EnvDiskSchema = z
  .object({ env: z.string().min(1).max(64), databaseBytes: Bytes, filestoreBytes: Bytes, measuredAt: z.iso.datetime() })
  .strict();
export const HeartbeatRequest = z
  .object({
    inventory: InventorySchema,
    containers: z.array(ContainerSchema).max(10_000),
    /** Absent from agents that predate it: the coordinator then keeps what it had. */
    envDisk: z.array(EnvDiskSchema).max(10_000).optional(),
  })
  .strict();
export const HeartbeatResponse = z.object({
  heartbeatSec: z.number(),
  /** An operator asked for a new credential: fetch it (POST /credential) and switch to it. */
  rotateCredential: z.boolean().optional(),
});

/*
 * The state link (src/fleet/mirror*.ts): the rows a job may need travel with its lease, and what
 * the job changed travels back with its step reports and its finish. Sealed columns travel open
 * (`dbPasswordEnc` → `dbPassword`): each side seals them with its own SecretBox.
 */
const Text = z.string().max(100_000);
/**
 * A failure reason an agent reports (a job's, a step's, an env's, a deployment's, a backup's):
 * tenant text, made display-safe as the coordinator's agent routes parse it — an agent binary
 * older than src/tenant-text.ts sends it raw, and nothing downstream filters it again.
 */
const Reason = Text.transform(displayText);
const Ts = z.string().max(40);
const Id = z.string().min(1).max(64);

export const ProjectWire = z
  .object({
    id: Id,
    name: Text,
    repoUrl: Text.nullable(),
    repoPassword: Text.nullable(),
    defaultBranch: Text,
    accessPassword: Text.nullable(),
    createdAt: Ts,
  })
  .strict();

export const EnvironmentWire = z
  .object({
    id: Id,
    projectId: Id,
    name: Text,
    slug: Text,
    branch: Text.nullable(),
    tier: z.enum(TIERS),
    status: z.enum(ENV_STATUSES),
    statusReason: Reason.nullable(),
    httpFallbackReason: Reason.nullable(),
    hostId: Id.nullable(),
    odooImage: Text,
    domain: Text,
    dbName: Text,
    dbUser: Text,
    dbPassword: Text,
    adminPasswd: Text,
    odooAdminPassword: Text.nullable(),
    httpPort: z.number().int().nullable(),
    longpollPort: z.number().int().nullable(),
    workers: z.number().int(),
    cpus: Text,
    memoryMb: z.number().int(),
    modules: z.array(Text),
    demo: z.boolean(),
    currentDeploymentId: Id.nullable(),
    containerName: Text.nullable(),
    release: z.number().int(),
    ttlExpiresAt: Ts.nullable(),
    ttlWarnedAt: Ts.nullable(),
    createdBy: Text.nullable(),
    createdAt: Ts,
    updatedAt: Ts.nullable(),
    destroyedAt: Ts.nullable(),
  })
  .strict();

export const DeploymentWire = z
  .object({
    id: Id,
    envId: Id,
    release: z.number().int(),
    kind: z.enum(deployments.kind.enumValues),
    commitSha: Text.nullable(),
    branch: Text.nullable(),
    image: Text.nullable(),
    status: z.enum(deployments.status.enumValues),
    modulesUpdated: z.array(z.object({ name: Text, from: Text.nullable(), to: Text }).strict()).nullable(),
    modulesInstalled: z.array(Text).nullable(),
    moduleChecksums: z.record(z.string(), Text).nullable(),
    container: Text.nullable(),
    rollbackOf: Id.nullable(),
    migrated: z.boolean(),
    backupId: Id.nullable(),
    gates: GatePlanView.nullable(),
    approvalDeadline: Ts.nullable(),
    approvalDecision: z.enum(deployments.approvalDecision.enumValues).nullable(),
    approvalBy: Text.nullable(),
    approvalReason: Text.nullable(),
    approvalAt: Ts.nullable(),
    jobId: Id.nullable(),
    stepTimings: z.record(z.string(), z.number()).nullable(),
    error: Reason.nullable(),
    createdBy: Text.nullable(),
    createdAt: Ts,
    finishedAt: Ts.nullable(),
  })
  .strict();

export const BackupWire = z
  .object({
    id: Id,
    envId: Id,
    kind: z.enum(backups.kind.enumValues),
    status: z.enum(backups.status.enumValues),
    dbName: Text,
    sizeBytes: z.number().int().nullable(),
    localPath: Text.nullable(),
    s3Key: Text.nullable(),
    manifest: z.record(z.string(), z.unknown()).nullable(),
    error: Reason.nullable(),
    createdAt: Ts,
    finishedAt: Ts.nullable(),
    expiresAt: Ts.nullable(),
  })
  .strict();

export type ProjectWire = z.infer<typeof ProjectWire>;
export type EnvironmentWire = z.infer<typeof EnvironmentWire>;
export type DeploymentWire = z.infer<typeof DeploymentWire>;
export type BackupWire = z.infer<typeof BackupWire>;

/** What a lease carries: the host's envs (ports and vhosts stay unique per host) and the job's envs' history. */
/** An approval decision made on the coordinator, for the agent's copy of the deployment. */
export const ApprovalWire = z
  .object({
    id: Id,
    approvalDecision: z.enum(deployments.approvalDecision.enumValues),
    approvalBy: Text.nullable(),
    approvalReason: Text.nullable(),
    approvalAt: Ts.nullable(),
  })
  .strict();

export const PastJobWire = z.object({ id: Id, kind: z.enum(DB_REPLACING_JOBS), lockKey: Id, finishedAt: Ts }).strict();

export const MirrorSlice = z
  .object({
    host: z.object({ id: Id, name: Text }).strict(),
    /** The envs the job is about (its env, and the source of a same-host copy): their changes flow back. */
    jobEnvIds: z.array(Id).max(2),
    projects: z.array(ProjectWire).max(10_000),
    environments: z.array(EnvironmentWire).max(10_000),
    deployments: z.array(DeploymentWire).max(10_000),
    backups: z.array(BackupWire).max(10_000),
    /**
     * The job envs' finished restores, clones and imports: the agent's deploy and rollback ask
     * whether the database was replaced since a release (databaseReplacedSince), and the job
     * history lives on the coordinator only.
     */
    replacements: z.array(PastJobWire).max(10_000).default([]),
  })
  .strict();
export type MirrorSlice = z.infer<typeof MirrorSlice>;

/** One changed row: its id and the columns that changed (every column for a row the agent inserted). */
function change<T extends z.ZodObject>(row: T) {
  return z.object({ id: Id, set: row.omit({ id: true }).partial().strict() }).strict();
}
export const EnvironmentChange = change(EnvironmentWire);
export const DeploymentChange = change(DeploymentWire);
export const BackupChange = change(BackupWire);
export type EnvironmentChange = z.infer<typeof EnvironmentChange>;
export type DeploymentChange = z.infer<typeof DeploymentChange>;
export type BackupChange = z.infer<typeof BackupChange>;

/** What a job changed in its slice since its previous report. */
export const MirrorChanges = z
  .object({
    environments: z.array(EnvironmentChange).max(100),
    deployments: z.array(DeploymentChange).max(1_000),
    backups: z.array(BackupChange).max(1_000),
  })
  .strict();
export type MirrorChanges = z.infer<typeof MirrorChanges>;

const Owner = z.string().min(1).max(200);
export const LeaseRequest = z
  .object({
    owner: Owner,
    leaseMs: z.number().int().min(1000).max(600_000),
    waitMs: z.number().int().min(0).max(60_000).default(0),
    /**
     * The host's heartbeat, carried by the lease so an idle agent holds one connection, not two
     * (src/fleet/pulse.ts). The coordinator then answers by the next beat's due time, and wraps
     * its answer: `{heartbeat: HeartbeatResponse, lease: <the answer without it>}`.
     */
    heartbeat: HeartbeatRequest.optional(),
    /**
     * The agent understands `{cancel: [job ids]}` as an answer: a cancel of a job it runs under
     * this owner is then told at once, not at the job's next heartbeat. Agents without it are
     * never sent one.
     */
    cancels: z.boolean().optional(),
  })
  .strict();
export const JobHeartbeatRequest = z
  .object({
    owner: Owner,
    leaseMs: z.number().int().min(1000).max(600_000),
    /** What a step changed while it runs (a deploy now awaiting approval): people act on it before the step ends. */
    state: MirrorChanges.optional(),
  })
  .strict();
const StepPatch = z
  .object({
    status: z.enum(stepStatuses),
    output: z.record(z.string(), z.unknown()).nullable().optional(),
    error: Reason.nullable().optional(),
    startedAt: z.string().max(40).nullable().optional(),
    finishedAt: z.string().max(40).nullable().optional(),
    durationMs: z.number().nullable().optional(),
  })
  .strict();
const StepIdx = z.number().int().min(0).max(1000);
export const StepRequest = z
  .object({
    owner: Owner,
    /** What the job changed in its mirrored state (remote agents; src/fleet/mirror.ts). */
    state: MirrorChanges.optional(),
    idx: StepIdx,
    patch: StepPatch,
  })
  .strict();
const LogLines = z.array(z.string().max(100_000)).max(10_000);
export const LogRequest = z.object({ owner: Owner, lines: LogLines }).strict();
const Outcome = z.discriminatedUnion("status", [
  z.object({ status: z.literal("succeeded"), result: z.record(z.string(), z.unknown()).nullable() }).strict(),
  z.object({ status: z.enum(["failed", "cancelled"]), error: Reason }).strict(),
]);
/** The result's secrets for the job's creator, open: the coordinator seals them with its own box. */
const OpenSecrets = z.record(z.string(), z.string().max(10_000));
export const FinishRequest = z
  .object({ owner: Owner, state: MirrorChanges.optional(), secrets: OpenSecrets.optional(), outcome: Outcome })
  .strict();
/**
 * A leased job the agent finished while the coordinator was away (src/jobs/http-channel.ts keeps
 * it in `state/outbox/leased/`): the reports the coordinator missed and the finish, sent when it
 * answers again. `attempt` is the lease's: taken only if nobody leased the job since.
 */
export const LateFinish = z
  .object({
    jobId: Id,
    owner: Owner,
    attempt: z.number().int().min(1).max(1_000_000),
    steps: z.array(z.object({ idx: StepIdx, patch: StepPatch }).strict()).max(1000),
    lines: LogLines,
    outcome: Outcome,
    secrets: OpenSecrets.optional(),
    state: MirrorChanges.optional(),
  })
  .strict();
export type LateFinish = z.infer<typeof LateFinish>;

/** `POST /environments/{name}/move` (`odooops env move ENV --to HOST`). */
export const MoveEnvRequest = z
  .object({
    to: z.string().min(1).max(63).openapi({ description: "the host the env goes to" }),
    dryRun: z.boolean().default(false),
  })
  .strict()
  .openapi("MoveEnvRequest");
export type MoveEnvRequest = z.input<typeof MoveEnvRequest>;

export const MovePlanSchema = z
  .object({
    env: z.string(),
    from: z.string(),
    to: z.string(),
    fit: z.string(),
    /** How the copy travels: the shared S3 target, or relayed through the coordinator. */
    transfer: z.enum(["s3", "relay"]),
    steps: z.array(z.string()),
    dns: z.string(),
  })
  .openapi("EnvMovePlan");

export const MoveEnvResponse = z
  .object({ dryRun: z.boolean(), plan: MovePlanSchema, job: JobView.nullable() })
  .openapi("EnvMoveResponse");
export type MoveEnvResponse = z.infer<typeof MoveEnvResponse>;

/**
 * A job an agent ran on its own (its scheduled backups, src/daemon/agent-local.ts), reported once
 * it ended: the job as the agent's journal holds it, and what it changed in the env's rows.
 */
export const AgentJobReport = z
  .object({
    job: z
      .object({
        id: Id,
        kind: z.string().min(1).max(64),
        lockKey: Id,
        target: Text.nullable(),
        status: z.enum(["succeeded", "failed", "cancelled"]),
        params: z.record(z.string(), z.unknown()),
        result: z.record(z.string(), z.unknown()).nullable(),
        error: Reason.nullable(),
        attempts: z.number().int().min(0).max(1000),
        createdBy: Text.nullable(),
        odooopsVersion: Text.nullable(),
        createdAt: Ts,
        startedAt: Ts.nullable(),
        finishedAt: Ts.nullable(),
      })
      .strict(),
    steps: z
      .array(
        z
          .object({
            idx: z.number().int().min(0).max(1000),
            name: z.string().min(1).max(200),
            title: z.string().max(1000),
            status: z.enum(stepStatuses),
            output: z.record(z.string(), z.unknown()).nullable(),
            error: Reason.nullable(),
            startedAt: Ts.nullable(),
            finishedAt: Ts.nullable(),
            durationMs: z.number().int().min(0).nullable(),
          })
          .strict(),
      )
      .max(100),
    state: MirrorChanges.optional(),
  })
  .strict();
export type AgentJobReport = z.infer<typeof AgentJobReport>;
