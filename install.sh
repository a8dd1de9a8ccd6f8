#!/bin/sh
# odooops installer for Debian and Ubuntu hosts.
#
#   curl -fsSL https://<host>/install.sh | sudo sh
#   curl -fsSL https://<host>/install.sh | sudo sh -s -- --with-deps
#
# Installs the odooops binary (default /usr/local/bin/odooops), the `odooops` system user and
# group, /etc/odooops and /var/lib/odooops. Safe to re-run: upgrades the binary in place and
# keeps configuration and state. Never reads stdin, so it works when piped to sh.
#
# Everything runs from main() on the last line: if the download of this script is cut short,
# sh never executes a half-received script.

set -eu

# Where releases live: <base>/odooops-linux-<x64|arm64> and <base>/SHA256SUMS.
DEFAULT_BASE_URL="https://github.com/odooops/odooops/releases/latest/download"
DEPS="docker.io postgresql nginx"

usage() {
	cat <<EOF
Usage: install.sh [options]
       curl -fsSL https://<host>/install.sh | sudo sh -s -- [options]

Installs odooops on a Debian or Ubuntu host (x86_64 or aarch64).

Options:
  --binary PATH     install this odooops binary instead of downloading one
  --base-url URL    download odooops-linux-<arch> and SHA256SUMS from URL
                    (default: \$ODOOOPS_BASE_URL or $DEFAULT_BASE_URL)
  --prefix DIR      install the binary as DIR/bin/odooops (default: /usr/local)
  --with-deps       also install missing host dependencies with apt-get:
                    $DEPS
  --no-restart      do not restart a running odooops service after an upgrade
  -h, --help        show this help

Re-running upgrades the binary in place; /etc/odooops and /var/lib/odooops are kept.
EOF
}

say() { printf 'odooops install: %s\n' "$*"; }
warn() { printf 'odooops install: warning: %s\n' "$*" >&2; }
die() {
	printf 'odooops install: error: %s\n' "$*" >&2
	exit 1
}
usage_error() {
	printf 'odooops install: %s\n(see install.sh --help)\n' "$*" >&2
	exit 2
}

# --- platform --------------------------------------------------------------------------------

# os_field KEY: one value of /etc/os-release, unquoted. Parsed rather than sourced: sourcing
# would run the file as code and could clobber this script's variables.
os_field() {
	sed -n "s/^$1=//p" /etc/os-release | head -n 1 | tr -d "\"'"
}

detect_os() {
	os=$(uname -s)
	[ "$os" = Linux ] || die "unsupported operating system: $os (odooops runs on Linux: Debian or Ubuntu)"
	[ -r /etc/os-release ] || die "cannot identify the Linux distribution (/etc/os-release is missing); odooops supports Debian and Ubuntu"
	distro_id=$(os_field ID)
	distro_like=$(os_field ID_LIKE)
	distro_name=$(os_field PRETTY_NAME)
	[ -n "$distro_name" ] || distro_name=${distro_id:-unknown}
	case " $distro_id $distro_like " in
	*" debian "* | *" ubuntu "*) ;;
	*) die "unsupported Linux distribution: $distro_name (odooops supports Debian and Ubuntu and their derivatives)" ;;
	esac
}

detect_arch() {
	machine=$(uname -m)
	case "$machine" in
	x86_64 | amd64) arch=x64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "unsupported CPU architecture: $machine (odooops is built for x86_64 and aarch64)" ;;
	esac
}

# --- download --------------------------------------------------------------------------------

# fetch URL FILE: curl or wget, failing on HTTP errors. stdin is /dev/null everywhere: when this
# script is piped to sh, stdin IS the script and a child reading it would eat the rest.
fetch() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL --retry 3 -o "$2" "$1" </dev/null || die "download failed: $1"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -O "$2" "$1" </dev/null || die "download failed: $1"
	else
		die "neither curl nor wget is installed; install one (apt-get install curl) or pass --binary PATH"
	fi
}

sha256_of() {
	sha256sum "$1" </dev/null | awk '{ print $1 }'
}

download() {
	name="odooops-linux-$arch"
	base=${base_url%/}
	case "$base" in
	http://*) warn "downloading over plain HTTP from $base: the checksum only protects against corruption" ;;
	esac
	say "downloading $base/$name"
	fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS"
	fetch "$base/$name" "$tmp/$name"
	# sha256sum lines: "<hash>  <name>" (text mode) or "<hash> *<name>" (binary mode).
	expected=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1; exit }' "$tmp/SHA256SUMS")
	[ -n "$expected" ] || die "SHA256SUMS at $base has no entry for $name"
	actual=$(sha256_of "$tmp/$name")
	[ "$expected" = "$actual" ] || die "checksum mismatch for $name: expected $expected, got $actual; refusing to install"
	say "checksum ok ($actual)"
	source_binary="$tmp/$name"
}

# --- host setup ------------------------------------------------------------------------------

install_deps() {
	missing=""
	command -v docker >/dev/null 2>&1 || missing="$missing docker.io"
	dpkg-query -W -f='${Status}' postgresql 2>/dev/null </dev/null | grep -q 'install ok installed' || missing="$missing postgresql"
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
	if [ -z "$missing" ]; then
		say "dependencies already installed ($DEPS)"
		return
	fi
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install$missing yourself"
	say "installing$missing with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get -q update </dev/null || die "apt-get update failed"
	# shellcheck disable=SC2086 # $missing is a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get -q -y install $missing </dev/null || die "apt-get install$missing failed"
}

nologin_shell() {
	for s in /usr/sbin/nologin /sbin/nologin; do
		[ -x "$s" ] && {
			printf '%s' "$s"
			return
		}
	done
	printf '/bin/false'
}

create_user() {
	if ! getent group odooops >/dev/null 2>&1; then
		groupadd --system odooops </dev/null || die "could not create group odooops"
		say "created system group odooops"
	fi
	if ! getent passwd odooops >/dev/null 2>&1; then
		useradd --system --gid odooops --home-dir /var/lib/odooops --no-create-home \
			--shell "$(nologin_shell)" --comment "odooops" odooops </dev/null || die "could not create user odooops"
		say "created system user odooops (no login shell)"
	fi
}

# make_dir DIR MODE: root:odooops. The daemon runs as root; the group lets members of `odooops`
# read the config and the local API token without being able to change what root acts on.
# Only the directory itself is (re)set: its contents (config, state) are never touched.
make_dir() {
	[ -L "$1" ] && die "$1 is a symbolic link; refusing to change its permissions"
	mkdir -p "$1"
	chown root:odooops "$1"
	chmod "$2" "$1"
}

# Copies the binary next to its destination, checks that it runs here, then renames it over the
# old one: rename(2) is atomic, so a running daemon keeps its old inode and nothing ever sees a
# half-written file.
install_binary() {
	bindir="$prefix/bin"
	dest="$bindir/odooops"
	mkdir -p "$bindir"
	new="$bindir/.odooops.new.$$"
	cleanup_file="$new"
	cp "$source_binary" "$new" || die "cannot write $new"
	chmod 0755 "$new"
	new_version=$("$new" --version </dev/null 2>/dev/null) || die "$source_binary does not run on this machine ($machine); is it the linux-$arch build?"
	old_version=""
	if [ -x "$dest" ]; then
		old_version=$("$dest" --version </dev/null 2>/dev/null) || old_version="unknown"
	fi
	# The same bytes: leave the installed file (and a running daemon) alone.
	if [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$(sha256_of "$new")" ]; then
		rm -f "$new"
		cleanup_file=""
		changed=0
		say "$dest is up to date ($new_version)"
		return
	fi
	mv -f "$new" "$dest" || die "cannot replace $dest"
	cleanup_file=""
	changed=1
	if [ "$old_version" = "$new_version" ]; then
		say "reinstalled $dest ($new_version, a different build)"
	elif [ -n "$old_version" ]; then
		say "upgraded $dest: $old_version -> $new_version"
	else
		say "installed $dest ($new_version)"
	fi
}

restart_service() {
	# Only an upgrade of a running service needs a restart; a first install has no unit yet.
	[ "$changed" = 1 ] && [ -n "$old_version" ] || return 0
	command -v systemctl >/dev/null 2>&1 || return 0
	systemctl is-active --quiet odooops.service </dev/null 2>/dev/null || return 0
	if [ "$restart" = 1 ]; then
		say "restarting odooops.service to run the new binary"
		systemctl restart odooops.service </dev/null || die "systemctl restart odooops failed; see journalctl -u odooops"
	else
		say "odooops.service still runs the old binary: systemctl restart odooops"
	fi
}

cleanup() {
	[ -n "${cleanup_file:-}" ] && rm -f "$cleanup_file"
	[ -n "${tmp:-}" ] && rm -rf "$tmp"
	return 0
}

# --- main ------------------------------------------------------------------------------------

main() {
	binary=""
	base_url=${ODOOOPS_BASE_URL:-$DEFAULT_BASE_URL}
	prefix=/usr/local
	with_deps=0
	restart=1
	while [ $# -gt 0 ]; do
		case "$1" in
		-h | --help)
			usage
			exit 0
			;;
		--binary | --base-url | --prefix)
			if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a value"; fi
			opt=$1
			val=$2
			shift 2
			;;
		--binary=* | --base-url=* | --prefix=*)
			opt=${1%%=*}
			val=${1#*=}
			[ -n "$val" ] || usage_error "$opt needs a value"
			shift
			;;
		--with-deps)
			with_deps=1
			shift
			continue
			;;
		--no-restart)
			restart=0
			shift
			continue
			;;
		*) usage_error "unknown option: $1" ;;
		esac
		case "$opt" in
		--binary) binary=$val ;;
		--base-url) base_url=$val ;;
		--prefix) prefix=${val%/} ;;
		esac
	done
	case "$prefix" in
	/*) ;;
	*) usage_error "--prefix must be an absolute path: $prefix" ;;
	esac
	if [ -z "$binary" ]; then
		case "$base_url" in
		https://* | http://*) ;;
		*) usage_error "--base-url must be an http(s) URL: $base_url" ;;
		esac
	fi

	detect_os
	detect_arch
	[ "$(id -u)" = 0 ] || die "must run as root (it creates a system user and /etc/odooops): curl -fsSL <url>/install.sh | sudo sh"

	tmp=""
	cleanup_file=""
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ -n "$binary" ]; then
		[ -f "$binary" ] || die "--binary: no such file: $binary"
		source_binary=$binary
	else
		tmp=$(mktemp -d "${TMPDIR:-/tmp}/odooops-install.XXXXXX")
		download
	fi

	if [ "$with_deps" = 1 ]; then install_deps; fi
	create_user
	make_dir /etc/odooops 0750
	# 0751: nginx's workers (www-data) must reach <data>/acme-webroot for HTTP-01 challenges;
	# they can traverse but not list, and the daemon keeps every other subdirectory 0750.
	make_dir /var/lib/odooops 0751
	install_binary
	restart_service

	case ":$PATH:" in
	*":$prefix/bin:"*) cmd=odooops ;;
	*) cmd=$prefix/bin/odooops ;;
	esac
	say "done. Next: sudo $cmd init"
}

main "$@"
