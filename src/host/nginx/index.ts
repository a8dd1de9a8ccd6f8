export { nginx, nginxStart, type NginxConfig } from "./commands";
export {
  renderVhost,
  renderMainConfig,
  assertSlug,
  type VhostSpec,
  type VhostTls,
  type VhostAccess,
  type MainConfigSpec,
} from "./render";
export { nginxHost, writeVhost, removeVhost, listVhosts, reload, vhostFile, pidFileOf, type NginxHost } from "./ops";
export { htpasswdFile, htpasswdLine, writeHtpasswd, groupGid, sha512Crypt } from "./htpasswd";
