/**
 * Putting a stored certificate in front of an env: vhost with TLS (HTTP keeps the ACME webroot
 * and redirects the rest), `nginx -t` through writeVhost (a bad config never replaces a good
 * one), reload, then check what nginx actually serves. nginx re-reads certificate files only on
 * reload, so this is also the step after every renewal — with an unchanged vhost text.
 */
import { reload, renderVhost, writeVhost, type NginxHost, type VhostSpec, type VhostTls } from "../host/nginx";
import type { StoredCertificate } from "./store";
import { assertServedCertificate, type ServedResult } from "./verify";

export function vhostTls(cert: StoredCertificate, opts: { hsts: boolean; httpsPort: number }): VhostTls {
  return { certFile: cert.files.fullchain, keyFile: cert.files.privkey, hsts: opts.hsts, httpsPort: opts.httpsPort };
}

export interface ServeCertificateOptions {
  nginx: NginxHost;
  /** The env's vhost as it is rendered today (its `tls` is replaced). */
  vhost: VhostSpec;
  cert: StoredCertificate;
  /** HSTS only for production envs: once sent, browsers refuse plain HTTP for a year. */
  hsts: boolean;
  httpsPort: number;
  /** Where to connect for the check (default 127.0.0.1:httpsPort). */
  verifyHost?: string;
  verifyPort?: number;
  /** Trust anchors for the check (private CA, pebble); the system store otherwise. */
  ca?: string | string[];
  /** Fail when the served chain is not trusted (production: true). */
  requireTrusted?: boolean;
}

/** Writes the HTTPS vhost, reloads nginx and proves the stored certificate is the one served. */
export async function serveCertificate(opts: ServeCertificateOptions): Promise<ServedResult> {
  const text = renderVhost({ ...opts.vhost, tls: vhostTls(opts.cert, { hsts: opts.hsts, httpsPort: opts.httpsPort }) });
  await writeVhost(opts.nginx, opts.vhost.slug, text);
  await reload(opts.nginx);
  return assertServedCertificate({
    host: opts.verifyHost ?? "127.0.0.1",
    port: opts.verifyPort ?? opts.httpsPort,
    servername: opts.cert.domain,
    expectSerial: opts.cert.info.serial,
    ca: opts.ca,
    requireTrusted: opts.requireTrusted,
  });
}
