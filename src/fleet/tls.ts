/**
 * The coordinator's certificate for the agent API: self-signed, made once in the state dir. Agents
 * do not trust it through a CA but pin its SHA-256 fingerprint, which travels in every join token,
 * so the same pin works whatever name or address an agent uses to reach the coordinator.
 */
import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Paths } from "../config/paths";
import { type Command, command } from "../exec/command";
import { run } from "../exec/run";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export function agentApiTlsFiles(paths: Paths): TlsFiles {
  const dir = join(paths.dataDir, "fleet");
  return { certFile: join(dir, "agent-api.crt"), keyFile: join(dir, "agent-api.key") };
}

/** A P-256 self-signed certificate valid ten years (the pin, not the dates, is what agents check). */
export function selfSignedCert(files: TlsFiles, commonName: string): Command {
  return command([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    files.keyFile,
    "-out",
    files.certFile,
    "-days",
    "3650",
    "-subj",
    `/CN=${commonName}`,
  ]);
}

/** SHA-256 over the DER certificate, colon-separated upper-case hex (as openssl and Node print it). */
export function certFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

export interface AgentApiTls {
  cert: string;
  key: string;
  fingerprint: string;
}

/** Loads the certificate, making it on first use; the key stays 0600. */
export async function ensureAgentApiTls(paths: Paths): Promise<AgentApiTls> {
  const files = agentApiTlsFiles(paths);
  if (!existsSync(files.certFile) || !existsSync(files.keyFile)) {
    mkdirSync(join(paths.dataDir, "fleet"), { recursive: true, mode: 0o700 });
    await run(selfSignedCert(files, "odooops-coordinator"));
  }
  chmodSync(files.keyFile, 0o600);
  const cert = readFileSync(files.certFile, "utf8");
  return { cert, key: readFileSync(files.keyFile, "utf8"), fingerprint: certFingerprint(cert) };
}
