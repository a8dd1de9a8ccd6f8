/**
 * What odooops needs to know about a certificate, read with node:crypto's X509Certificate (no
 * openssl process). Serials are normalized (upper-case hex, no leading zeros) because they are
 * compared across sources: the PEM on disk and the certificate a TLS server presents.
 */
import { X509Certificate } from "node:crypto";
import { Invalid, errorText } from "../errors";

export interface CertInfo {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** DNS subjectAltNames (lower-case); IP SANs are not used for vhosts. */
  sans: string[];
  subject: string;
  issuer: string;
  fingerprint256: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function normalizeSerial(serial: string): string {
  const hex = serial
    .replace(/[^0-9a-f]/gi, "")
    .toUpperCase()
    .replace(/^0+(?=.)/, "");
  return hex;
}

/** Every certificate block of a PEM bundle, in order (leaf first in a fullchain). */
export function splitPemChain(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}

export function parseCertificate(pem: string | Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new Invalid(`not a readable X.509 certificate (PEM expected): ${errorText(e)}`);
  }
}

export function dnsSans(cert: X509Certificate): string[] {
  // Format: "DNS:a.example.com, DNS:*.b.example.com, IP Address:127.0.0.1"
  return (cert.subjectAltName ?? "")
    .split(/,\s*/)
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4).toLowerCase());
}

export function certInfo(cert: X509Certificate): CertInfo {
  return {
    serial: normalizeSerial(cert.serialNumber),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    sans: dnsSans(cert),
    subject: cert.subject,
    issuer: cert.issuer,
    fingerprint256: cert.fingerprint256,
  };
}

/** Info of the first certificate (the leaf) of a PEM bundle. */
export function readCertInfo(pem: string): CertInfo {
  const first = splitPemChain(pem)[0];
  if (!first) throw new Invalid("no certificate found in the PEM data");
  return certInfo(parseCertificate(first));
}
