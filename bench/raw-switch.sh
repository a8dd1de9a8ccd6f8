#!/usr/bin/env bash
# The baseline of bench/deploy-reuse.ts: the release switch of `odooops deploy` for an image that is
# already built, as the plain commands an admin would type, on the same dockerd, nginx, PostgreSQL
# and image. Every value comes from the environment and travels as one argument; nothing is eval'd.
#
#   docker run --detach (new port pair) → /web/health on its own port → vhost rewritten beside its
#   final name, moved in place, nginx -t, nginx -s reload → /web/health through nginx (Host header)
#   → docker stop of the old container (kept, like odooops keeps it for rollback)
#
# The last line on stdout is one JSON object of timings in µs (total and each step), from bash's
# own $EPOCHREALTIME, read without forking.
# On failure it removes the container it started and puts the previous vhost back (reloading
# nginx), so the old container keeps serving; on success the new container serves and the old one
# is stopped. The caller removes stopped containers.
#
# Required: RAW_NEW (container to start), RAW_IMAGE, RAW_NETWORK, RAW_CONF (odoo.conf), RAW_DATA
# (data dir), RAW_CPUS, RAW_MEMORY_MB, RAW_HTTP_PORT, RAW_LONGPOLL_PORT, RAW_SLUG, RAW_DOMAIN,
# RAW_NGINX_CONF, RAW_NGINX_SITES, RAW_NGINX_PORT, RAW_LOG_DIR.
# Optional: RAW_OLD (container to stop after the switch; unset or empty: nothing serves yet),
# RAW_NGINX_BIN (nginx), RAW_POLL_SEC (0.1), RAW_HEALTH_TIMEOUT_SEC (60), RAW_STOP_TIMEOUT_SEC (30).
set -euo pipefail

# us VAR: microseconds since the epoch into VAR.
us() { local _now=$EPOCHREALTIME; printf -v "$1" %s "${_now/./}"; }
T0=0 t=0 n=0 END=0
us T0

die() { echo "raw-switch: $*" >&2; exit 2; }
need() { [[ -n "${!1:-}" ]] || die "$1 is not set"; }
for v in RAW_NEW RAW_IMAGE RAW_NETWORK RAW_CONF RAW_DATA RAW_CPUS RAW_MEMORY_MB RAW_HTTP_PORT RAW_LONGPOLL_PORT \
  RAW_SLUG RAW_DOMAIN RAW_NGINX_CONF RAW_NGINX_SITES RAW_NGINX_PORT RAW_LOG_DIR; do need "$v"; done
# Values land in an nginx file and in docker names: only plain tokens are accepted.
NAME_RE='^[a-z][a-z0-9_.-]{0,80}$'
[[ $RAW_NEW =~ $NAME_RE ]] || die "bad RAW_NEW"
OLD=${RAW_OLD:-}
[[ -z $OLD || $OLD =~ $NAME_RE ]] || die "bad RAW_OLD"
[[ $RAW_NETWORK =~ $NAME_RE ]] || die "bad RAW_NETWORK"
[[ $RAW_IMAGE =~ ^[a-z0-9][a-z0-9_./:-]{0,200}$ ]] || die "bad RAW_IMAGE"
[[ $RAW_SLUG =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]] || die "bad RAW_SLUG"
[[ $RAW_DOMAIN =~ ^[a-z0-9.-]{1,200}$ ]] || die "bad RAW_DOMAIN"
for v in RAW_CONF RAW_DATA RAW_NGINX_SITES RAW_LOG_DIR; do [[ ${!v} =~ ^/[A-Za-z0-9._/-]+$ ]] || die "bad $v"; done
for v in RAW_HTTP_PORT RAW_LONGPOLL_PORT RAW_NGINX_PORT RAW_MEMORY_MB; do [[ ${!v} =~ ^[0-9]{1,6}$ ]] || die "bad $v"; done
[[ $RAW_CPUS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "bad RAW_CPUS"

NGINX=${RAW_NGINX_BIN:-nginx}
HEALTH_TIMEOUT=${RAW_HEALTH_TIMEOUT_SEC:-60}
POLL=${RAW_POLL_SEC:-0.1}
STOP_TIMEOUT=${RAW_STOP_TIMEOUT_SEC:-30}
[[ $HEALTH_TIMEOUT =~ ^[0-9]{1,4}$ && $STOP_TIMEOUT =~ ^[0-9]{1,4}$ && $POLL =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "bad timeout or poll interval"
VHOST="$RAW_NGINX_SITES/$RAW_SLUG.conf"
PASS='"status": *"pass"'
started=0
switched=0
PREVIOUS=""
had_previous=0
if [[ -f $VHOST ]]; then PREVIOUS=$(<"$VHOST"); had_previous=1; fi

cleanup() {
  local rc=$?
  set +e
  rm -f "$VHOST.tmp"
  if ((rc != 0)); then
    if ((switched)); then
      if ((had_previous)); then printf '%s\n' "$PREVIOUS" >"$VHOST.tmp" && mv "$VHOST.tmp" "$VHOST"; else rm -f "$VHOST"; fi
      "$NGINX" -s reload -c "$RAW_NGINX_CONF" 2>/dev/null
    fi
    ((started)) && docker rm --force "$RAW_NEW" >/dev/null 2>&1
  fi
  exit "$rc"
}
trap cleanup EXIT

# health URL [HOST]: one probe of /web/health?db_server_status=1 that must answer 200 "pass".
health() {
  local body
  if [[ $# -gt 1 ]]; then
    body=$(curl -sf --max-time 5 -H "Host: $2" "$1/web/health?db_server_status=1") || return 1
  else
    body=$(curl -sf --max-time 5 "$1/web/health?db_server_status=1") || return 1
  fi
  [[ $body =~ $PASS ]]
}

# wait_health DEADLINE_US URL [HOST]
wait_health() {
  local deadline=$1 now=0
  shift
  until health "$@"; do
    us now
    ((now < deadline)) || return 1
    sleep "$POLL"
  done
}

# 1. the new release beside the old one, shaped like odooops' release containers
us t
started=1
docker run --detach --name "$RAW_NEW" --label odooops.bench=raw \
  --publish "127.0.0.1:$RAW_HTTP_PORT:8069" --publish "127.0.0.1:$RAW_LONGPOLL_PORT:8072" \
  --cpus "$RAW_CPUS" --memory "${RAW_MEMORY_MB}m" --memory-swap "${RAW_MEMORY_MB}m" \
  --restart unless-stopped --stop-timeout 30 \
  --network "$RAW_NETWORK" --add-host host.docker.internal:host-gateway \
  --mount "type=bind,source=$RAW_DATA,target=/var/lib/odoo" \
  --mount "type=bind,source=$RAW_CONF,target=/etc/odoo/odoo.conf,readonly" \
  --log-opt max-size=50m --log-opt max-file=5 "$RAW_IMAGE" >/dev/null
us n; T_RUN=$((n - t))

# 2. healthy on its own port before anyone is sent there
us t
wait_health $((t + HEALTH_TIMEOUT * 1000000)) "http://127.0.0.1:$RAW_HTTP_PORT" ||
  { docker logs --tail 30 "$RAW_NEW" >&2; die "$RAW_NEW not healthy after ${HEALTH_TIMEOUT}s"; }
us n; T_HEALTH=$((n - t))

# 3. vhost at the new ports: written beside, moved in place, whole config tested, reload
us t
U="raw_${RAW_SLUG//-/_}"
cat >"$VHOST.tmp" <<EOF
upstream ${U}_http { server 127.0.0.1:$RAW_HTTP_PORT; keepalive 8; }
upstream ${U}_longpoll { server 127.0.0.1:$RAW_LONGPOLL_PORT; }
server {
    listen $RAW_NGINX_PORT;
    server_name $RAW_DOMAIN;
    access_log $RAW_LOG_DIR/$RAW_SLUG.access.log;
    error_log $RAW_LOG_DIR/$RAW_SLUG.error.log;
    client_max_body_size 128m;
    proxy_read_timeout 720s;
    proxy_http_version 1.1;
    location /websocket {
        proxy_pass http://${U}_longpoll;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
    }
    location / {
        proxy_pass http://${U}_http;
        proxy_set_header Connection "";
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
    }
}
EOF
switched=1
mv "$VHOST.tmp" "$VHOST"
"$NGINX" -t -q -c "$RAW_NGINX_CONF" || die "nginx -t rejected the vhost"
"$NGINX" -s reload -c "$RAW_NGINX_CONF"
us n; T_VHOST=$((n - t))

# 4. through nginx, by Host header
us t
wait_health $((t + 30 * 1000000)) "http://127.0.0.1:$RAW_NGINX_PORT" "$RAW_DOMAIN" || die "not healthy through nginx"
us n; T_NGINX=$((n - t))
# From here the new release serves: a failing stop below must not undo the switch.
started=0 switched=0

# 5. the old release stops (kept for a rollback)
us t
if [[ -n $OLD ]]; then docker stop --time "$STOP_TIMEOUT" "$OLD" >/dev/null; fi
us n; T_STOP=$((n - t))

us END
printf '{"totalUs":%d,"steps":{"run":%d,"health":%d,"vhost":%d,"nginx":%d,"stop":%d}}\n' \
  $((END - T0)) "$T_RUN" "$T_HEALTH" "$T_VHOST" "$T_NGINX" "$T_STOP"
