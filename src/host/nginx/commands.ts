/** nginx CLI commands as data. `-c` everywhere: the same binary may serve several configs (tests). */
import type { Command } from "../../exec/command";

export interface NginxConfig {
  binary: string;
  configFile: string;
}

export function nginx(cfg: NginxConfig) {
  return {
    /** Parses the whole configuration, including every included vhost. */
    test: (): Command => ({ argv: [cfg.binary, "-t", "-q", "-c", cfg.configFile], timeoutMs: 60_000 }),
    /** SIGHUP to the master found through the config's `pid` file. Asynchronous: see ops.reload. */
    reload: (): Command => ({ argv: [cfg.binary, "-s", "reload", "-c", cfg.configFile], timeoutMs: 60_000 }),
    /** Starts a master (daemonizes unless the config says `daemon off`). */
    start: (): Command => ({ argv: [cfg.binary, "-c", cfg.configFile], timeoutMs: 60_000 }),
    /** Graceful stop: workers finish their requests. */
    quit: (): Command => ({ argv: [cfg.binary, "-s", "quit", "-c", cfg.configFile], timeoutMs: 60_000 }),
  };
}

const DEFAULT_NGINX_CONFIG = "/etc/nginx/nginx.conf";

/**
 * Starts the nginx master with the config odooops uses (it daemonizes itself), as init does and
 * doctor suggests: plain `nginx` for the distribution's config, so the line matches what the
 * package's service runs.
 */
export function nginxStart(cfg: NginxConfig): Command {
  return {
    argv: cfg.configFile === DEFAULT_NGINX_CONFIG ? [cfg.binary] : [cfg.binary, "-c", cfg.configFile],
    timeoutMs: 60_000,
  };
}
