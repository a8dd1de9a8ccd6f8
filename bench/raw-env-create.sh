#!/usr/bin/env bash
# The baseline of bench/env-create.ts: what `odooops env create --wait` does, as the plain commands
# an admin would type (psql, docker, nginx, curl), with the same PostgreSQL, nginx and image.
# Every value comes from the environment and travels as one argument; nothing is eval'd.
#
#   network → role + database (+ pg_hba line) → filestore + odoo.conf → init (--stop-after-init)
#   → server container → vhost + nginx -t + reload → /web/health through nginx
#
# The last line on stdout is one JSON object of timings in µs (total, init, and each step); the
# clock is bash's own $EPOCHREALTIME, read without forking.
# Everything it created is removed on exit, success or not (not part of the timings).
#
# Required: RAW_NAME (prefix of container/network names), RAW_SLUG, RAW_DOMAIN, RAW_DIR (must not
# exist yet), RAW_IMAGE, RAW_HTTP_PORT, RAW_LONGPOLL_PORT, RAW_NGINX_CONF, RAW_NGINX_SITES,
# RAW_NGINX_PORT, RAW_PG_HBA_FILE, PGHOST, PGPORT, PGUSER, PGPASSWORD (the admin connection).
# Optional: RAW_NGINX_BIN (nginx), RAW_DB_HOST (host.docker.internal, as seen from a container),
# RAW_HEALTH_TIMEOUT_SEC (60), RAW_POLL_SEC (0.1).
set -euo pipefail

# us VAR: microseconds since the epoch into VAR.
us() { local _now=$EPOCHREALTIME; printf -v "$1" %s "${_now/./}"; }
T0=0 t=0 n=0 END=0
us T0

die() { echo "raw-env-create: $*" >&2; exit 2; }
need() { [[ -n "${!1:-}" ]] || die "$1 is not set"; }
for v in RAW_NAME RAW_SLUG RAW_DOMAIN RAW_DIR RAW_IMAGE RAW_HTTP_PORT RAW_LONGPOLL_PORT RAW_NGINX_CONF \
  RAW_NGINX_SITES RAW_NGINX_PORT RAW_PG_HBA_FILE PGHOST PGPORT PGUSER PGPASSWORD; do need "$v"; done
# Values land in nginx and pg_hba files and in docker names: only plain tokens are accepted.
[[ $RAW_NAME =~ ^[a-z][a-z0-9-]{0,40}$ ]] || die "bad RAW_NAME"
[[ $RAW_SLUG =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]] || die "bad RAW_SLUG"
[[ $RAW_DOMAIN =~ ^[a-z0-9.-]{1,200}$ ]] || die "bad RAW_DOMAIN"
[[ $RAW_DIR =~ ^/[A-Za-z0-9._/-]+$ ]] || die "bad RAW_DIR"
for v in RAW_HTTP_PORT RAW_LONGPOLL_PORT RAW_NGINX_PORT PGPORT; do [[ ${!v} =~ ^[0-9]{1,5}$ ]] || die "bad $v"; done
[[ ! -e $RAW_DIR ]] || die "$RAW_DIR already exists"

NGINX=${RAW_NGINX_BIN:-nginx}
DB_HOST=${RAW_DB_HOST:-host.docker.internal}
HEALTH_TIMEOUT=${RAW_HEALTH_TIMEOUT_SEC:-60}
POLL=${RAW_POLL_SEC:-0.1}
NET="$RAW_NAME-net"
INIT="$RAW_NAME-init"
WEB="$RAW_NAME-web"
DB="raw_${RAW_SLUG//-/_}"
VHOST="$RAW_NGINX_SITES/$RAW_SLUG.conf"
HBA_LINE=""
created_db=0
created_net=0
created_vhost=0
# Labelled like an admin would, so a leftover is easy to find; never odooops.managed (not ours).
LABELS=(--label odooops.bench=raw --label "odooops.slug=$RAW_SLUG")

cleanup() {
  local rc=$?
  set +e
  docker rm --force "$INIT" "$WEB" >/dev/null 2>&1
  if ((created_vhost)); then rm -f "$VHOST"; "$NGINX" -s reload -c "$RAW_NGINX_CONF" 2>/dev/null; fi
  if [[ -n $HBA_LINE ]]; then
    # Rewritten in place (not replaced) so the file keeps the postgres owner and mode.
    local kept
    kept=$(grep -vxF -- "$HBA_LINE" "$RAW_PG_HBA_FILE")
    printf '%s\n' "$kept" >"$RAW_PG_HBA_FILE"
    psql -X -q -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
  fi
  if ((created_db)); then
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -v db="$DB" <<'SQL' >/dev/null
DROP DATABASE IF EXISTS :"db" WITH (FORCE);
DROP ROLE IF EXISTS :"db";
SQL
  fi
  ((created_net)) && docker network rm "$NET" >/dev/null 2>&1
  rm -rf "$RAW_DIR"
  exit "$rc"
}
trap cleanup EXIT

# 1. network (its subnet is what pg_hba lets in)
us t
created_net=1
docker network create --driver bridge "${LABELS[@]}" "$NET" >/dev/null
SUBNET=$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "$NET" | tr ' ' '\n' | grep -m1 -F .)
us n; T_NETWORK=$((n - t))

# 2. role + database owned by it, closed to everyone else, reachable from the network only
us t
PW=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
created_db=1
psql -X -q -d postgres -v ON_ERROR_STOP=1 -v db="$DB" -v pw="$PW" <<'SQL' >/dev/null
CREATE ROLE :"db" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
CREATE DATABASE :"db" WITH OWNER :"db" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
REVOKE CONNECT, TEMPORARY ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"db";
SQL
HBA_LINE="host $DB,postgres $DB $SUBNET scram-sha-256"
printf '%s\n' "$HBA_LINE" >>"$RAW_PG_HBA_FILE"
psql -X -q -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
us n; T_DATABASE=$((n - t))

# 3. filestore owned by the image's user (uid 101), odoo.conf readable by its group only
us t
mkdir -p "$RAW_DIR/data" "$RAW_DIR/logs"
chmod 755 "$RAW_DIR"
chown 101:101 "$RAW_DIR/data"
CONF="$RAW_DIR/odoo.conf"
(
  umask 027
  cat >"$CONF" <<EOF
[options]
db_host = $DB_HOST
db_port = $PGPORT
db_user = $DB
db_password = $PW
db_name = $DB
dbfilter = ^$DB\$
list_db = False
admin_passwd = $(head -c 18 /dev/urandom | base64 | tr -d '/+=')
proxy_mode = True
data_dir = /var/lib/odoo
addons_path = /mnt/extra-addons
workers = 0
max_cron_threads = 1
limit_memory_soft = 385875968
limit_memory_hard = 482344960
limit_time_cpu = 1200
limit_time_real = 2400
EOF
)
chown 0:101 "$CONF"
us n; T_FILES=$((n - t))

MOUNTS=(--mount "type=bind,source=$RAW_DIR/data,target=/var/lib/odoo" --mount "type=bind,source=$CONF,target=/etc/odoo/odoo.conf,readonly")
RUN_COMMON=(--network "$NET" --add-host host.docker.internal:host-gateway "${LABELS[@]}" "${MOUNTS[@]}")

# 4. database init: the part both sides must do, timed on its own
us t
docker run --rm --name "$INIT" "${RUN_COMMON[@]}" "$RAW_IMAGE" \
  -c /etc/odoo/odoo.conf -d "$DB" -i base --stop-after-init >"$RAW_DIR/logs/init.log" 2>&1 ||
  { tail -n 30 "$RAW_DIR/logs/init.log" >&2; die "init failed"; }
us n; T_INIT=$((n - t))

# 5. the server, published on loopback only, with the dev tier's limits
us t
docker run --detach --name "$WEB" "${RUN_COMMON[@]}" --restart unless-stopped --cpus 1 --memory 1024m --memory-swap 1024m \
  --publish "127.0.0.1:$RAW_HTTP_PORT:8069" --publish "127.0.0.1:$RAW_LONGPOLL_PORT:8072" \
  --log-opt max-size=50m --log-opt max-file=5 --stop-timeout 30 "$RAW_IMAGE" >/dev/null
us n; T_CONTAINER=$((n - t))

# 6. vhost: written beside its final name, moved into place, whole config tested, then reload
us t
U="raw_${RAW_SLUG//-/_}"
cat >"$VHOST.tmp" <<EOF
upstream ${U}_http { server 127.0.0.1:$RAW_HTTP_PORT; keepalive 8; }
upstream ${U}_longpoll { server 127.0.0.1:$RAW_LONGPOLL_PORT; }
server {
    listen $RAW_NGINX_PORT;
    server_name $RAW_DOMAIN;
    access_log $RAW_DIR/logs/access.log;
    error_log $RAW_DIR/logs/error.log;
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
created_vhost=1
mv "$VHOST.tmp" "$VHOST"
"$NGINX" -t -q -c "$RAW_NGINX_CONF" || { rm -f "$VHOST"; die "nginx -t rejected the vhost"; }
"$NGINX" -s reload -c "$RAW_NGINX_CONF"
us n; T_VHOST=$((n - t))

# 7. health through nginx, by Host header
us t
deadline=$((t + HEALTH_TIMEOUT * 1000000))
URL="http://127.0.0.1:$RAW_NGINX_PORT/web/health?db_server_status=1"
PASS='"status": *"pass"'
until body=$(curl -sf --max-time 5 -H "Host: $RAW_DOMAIN" "$URL") && [[ $body =~ $PASS ]]; do
  us n; ((n < deadline)) || { docker logs --tail 30 "$WEB" >&2; die "not healthy after ${HEALTH_TIMEOUT}s"; }
  sleep "$POLL"
done
us n; T_HEALTH=$((n - t))

us END
printf '{"totalUs":%d,"initUs":%d,"steps":{"network":%d,"database":%d,"files":%d,"initdb":%d,"container":%d,"vhost":%d,"health":%d}}\n' \
  $((END - T0)) "$T_INIT" "$T_NETWORK" "$T_DATABASE" "$T_FILES" "$T_INIT" "$T_CONTAINER" "$T_VHOST" "$T_HEALTH"
