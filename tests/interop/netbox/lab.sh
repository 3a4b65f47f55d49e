#!/usr/bin/env bash
# A real NetBox on loopback for reachd's integration tests.
#
#   lab.sh up DIR            install what is missing, start postgres, redis and
#                            NetBox (gunicorn), provision a v1 and a v2 API token,
#                            write DIR/env (shell-sourceable). Idempotent.
#   lab.sh down DIR          stop gunicorn, redis and postgres (files are kept)
#   lab.sh stop-netbox DIR   stop only gunicorn (NetBox goes away...)
#   lab.sh start-netbox DIR  ...and comes back
#   lab.sh status DIR        what is running
#
# Everything listens on 127.0.0.1 only. The only outside traffic is pip and
# apt, both to their package registries, and only when something is missing.
#
# Environment:
#   REACHD_LAB_CACHE       cache root (default /var/cache/reachd-lab): holds the
#                          NetBox venv and a dump of the freshly migrated
#                          database, both reused by later runs
#   NETBOX_LAB_PORT        NetBox HTTP port     (default: a free one, then kept)
#   NETBOX_LAB_PG_PORT     postgres port        (default: a free one, then kept)
#   NETBOX_LAB_REDIS_PORT  redis port           (default: a free one, then kept)
#   NETBOX_LAB_PYTHON      python >= 3.12 for the venv (default: pyenv's 3.12.1,
#                          else python3.12 on PATH)
#   NETBOX_LAB_VERSION     pip spec of NetBox   (default 4.7.*)
#   NETBOX_LAB_PLUGINS     1 (default) installs and enables
#                          netbox-plugin-prometheus-sd; 0 leaves it out
#   NETBOX_LAB_DB_CACHE    1 (default) restores the cached migrated database
#                          (made by a real `netbox migrate` of the same NetBox
#                          version and plugins) instead of migrating from
#                          scratch; `netbox migrate` still runs after it and
#                          applies whatever is missing. 0 always migrates fresh.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CACHE=${REACHD_LAB_CACHE:-/var/cache/reachd-lab}
VENV=$CACHE/netbox-venv
NB_SPEC="netbox==${NETBOX_LAB_VERSION:-4.7.*}"
PLUGINS=${NETBOX_LAB_PLUGINS:-1}
DB_CACHE=${NETBOX_LAB_DB_CACHE:-1}
PLUGIN_PKG=netbox-plugin-prometheus-sd
ADMIN=admin

die() { echo "lab.sh: $*" >&2; exit 1; }
say() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
# timed NAME COMMAND...: runs it, prints how long it took.
timed() {
  local name=$1 t0=$SECONDS; shift
  "$@"
  say "step '$name' took $((SECONDS - t0)) s"
  TIMES+=("$name=$((SECONDS - t0))s")
}
TIMES=()
# show_logs: the tail of each log of the lab, on failure.
show_logs() {
  local f
  for f in "$DIR"/*.log "$DIR"/pg/*.log; do
    [ -s "$f" ] || continue
    echo "----- tail of $f" >&2
    tail -n 30 "$f" >&2
  done
}

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
# Commands run as user postgres need a working directory they can enter.
cd "$DIR"
PGDATA=$DIR/pg/data
NB_ROOT=$DIR/netbox

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Ports and secrets are chosen once per DIR and kept in DIR/state.
load_state() {
  if [ -f "$DIR/state" ]; then
    # shellcheck disable=SC1091
    . "$DIR/state"
    return
  fi
  [ "$CMD" = up ] || die "$DIR has no lab (run: lab.sh up $DIR)"
  local rnd='import secrets,string,sys; a=string.ascii_letters+string.digits; print("".join(secrets.choice(a) for _ in range(int(sys.argv[1]))))'
  NB_PORT=${NETBOX_LAB_PORT:-$(free_port)}
  PG_PORT=${NETBOX_LAB_PG_PORT:-$(free_port)}
  REDIS_PORT=${NETBOX_LAB_REDIS_PORT:-$(free_port)}
  SECRET_KEY=$(python3 -c "$rnd" 64)
  PEPPER=$(python3 -c "$rnd" 64)
  DB_PASSWORD=$(python3 -c "$rnd" 24)
  ADMIN_PASSWORD=$(python3 -c "$rnd" 24)
  umask 077
  {
    printf 'NB_PORT=%q\nPG_PORT=%q\nREDIS_PORT=%q\n' "$NB_PORT" "$PG_PORT" "$REDIS_PORT"
    printf 'SECRET_KEY=%q\nPEPPER=%q\nDB_PASSWORD=%q\nADMIN_PASSWORD=%q\n' \
      "$SECRET_KEY" "$PEPPER" "$DB_PASSWORD" "$ADMIN_PASSWORD"
  } > "$DIR/state"
  umask 022
}

# ---------------------------------------------------------------- install

install_debs() {
  local p missing=()
  for p in postgresql redis-server; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q > "$DIR/apt.log" 2>&1 || { cat "$DIR/apt.log" >&2; die "apt-get update failed"; }
  # No init system: keep the packages' postinst from starting their services.
  local had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ $had_policy -eq 1 ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}" >> "$DIR/apt.log" 2>&1 \
    || { [ $had_policy -eq 1 ] || rm -f /usr/sbin/policy-rc.d; tail -n 30 "$DIR/apt.log" >&2; die "apt-get install failed"; }
  [ $had_policy -eq 1 ] || rm -f /usr/sbin/policy-rc.d
}

find_python() {
  local py=${NETBOX_LAB_PYTHON:-}
  if [ -z "$py" ]; then
    local root
    root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    if [ -x "$root/versions/3.12.1/bin/python3" ]; then
      py=$root/versions/3.12.1/bin/python3
    elif command -v python3.12 >/dev/null; then
      py=$(command -v python3.12)
    else
      die "no Python 3.12 (NetBox 4.7 needs >= 3.12): set NETBOX_LAB_PYTHON"
    fi
  fi
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' || die "$py is older than 3.12"
  echo "$py"
}

venv_ok() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "$NB_SPEC" "$PLUGINS" <<'EOF' >/dev/null 2>&1
import sys, fnmatch
from importlib.metadata import version
want = sys.argv[1].split("==", 1)[1]
assert fnmatch.fnmatch(version("netbox"), want), version("netbox")
version("gunicorn")
if sys.argv[2] == "1":
    version("netbox-plugin-prometheus-sd")
import netbox.cli, gunicorn  # noqa
EOF
}

install_venv() {
  if venv_ok; then
    say "venv $VENV reused ($("$VENV/bin/python" -c 'from importlib.metadata import version; print("netbox", version("netbox"))'))"
    return 0
  fi
  local py pkgs=("$NB_SPEC" gunicorn)
  py=$(find_python)
  [ "$PLUGINS" = 1 ] && pkgs+=("$PLUGIN_PKG")
  mkdir -p "$CACHE"
  if [ ! -x "$VENV/bin/pip" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    rm -rf "$VENV"
    "$py" -m venv "$VENV"
  fi
  say "pip install ${pkgs[*]} into $VENV"
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check "${pkgs[@]}" > "$DIR/pip.log" 2>&1; then
    tail -n 30 "$DIR/pip.log" >&2
    die "pip install failed (log: $DIR/pip.log)"
  fi
  venv_ok || die "venv $VENV still incomplete after pip install"
}

# ---------------------------------------------------------------- postgres

pg() { runuser -u postgres -- "$@"; }
psql_admin() { pg "$PG_BIN/psql" -h "$DIR/pg" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

init_pg() {
  [ -f "$PGDATA/PG_VERSION" ] && return 0
  id postgres >/dev/null 2>&1 || die "no user postgres (is the postgresql package installed?)"
  mkdir -p "$DIR/pg"
  chown postgres: "$DIR/pg"
  # postgres must be able to reach DIR
  chmod o+x "$DIR"
  pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 > "$DIR/pg/initdb.log" 2>&1 \
    || { cat "$DIR/pg/initdb.log" >&2; die "initdb failed"; }
  # A throwaway test cluster: durability settings off (a crash loses the
  # lab, which is recreated anyway); they make `migrate` much faster.
  cat >> "$PGDATA/postgresql.conf" <<EOF

# reachd lab
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR/pg'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 128MB
EOF
}

start_pg() {
  if pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    say "postgres already running on 127.0.0.1:$PG_PORT"
  else
    pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$DIR/pg/postgres.log" -w -t 60 start > /dev/null \
      || { show_logs; die "postgres did not start"; }
    say "postgres started on 127.0.0.1:$PG_PORT"
  fi
  if [ "$(psql_admin -c "select 1 from pg_roles where rolname = 'netbox'")" != 1 ]; then
    psql_admin -c "create role netbox login password '$DB_PASSWORD'"
  fi
}

# 1 if the netbox database exists
db_exists() { [ "$(psql_admin -c "select 1 from pg_database where datname = 'netbox'")" = 1 ]; }

# ---------------------------------------------------------------- redis

start_redis() {
  if alive "$DIR/redis.pid"; then
    say "redis already running on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  mkdir -p "$DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" \
    --dir "$DIR/redis" --save '' --appendonly no \
    || { show_logs; die "redis did not start"; }
  local i
  for i in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.2
  done
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG || { show_logs; die "redis does not answer"; }
  say "redis started on 127.0.0.1:$REDIS_PORT"
}

# ---------------------------------------------------------------- netbox

write_config() {
  mkdir -p "$NB_ROOT/conf" "$NB_ROOT/media" "$NB_ROOT/scripts" "$NB_ROOT/reports"
  local plugins='[]'
  [ "$PLUGINS" = 1 ] && plugins="['netbox_prometheus_sd']"
  umask 077
  cat > "$NB_ROOT/conf/configuration.py" <<EOF
# Written by tests/interop/netbox/lab.sh: a throwaway NetBox on loopback.
ALLOWED_HOSTS = ['*']
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'netbox',
        'USER': 'netbox',
        'PASSWORD': '$DB_PASSWORD',
        'HOST': '127.0.0.1',
        'PORT': $PG_PORT,
        'CONN_MAX_AGE': 300,
    },
}
REDIS = {
    'tasks': {'HOST': '127.0.0.1', 'PORT': $REDIS_PORT, 'DATABASE': 0, 'SSL': False},
    'caching': {'HOST': '127.0.0.1', 'PORT': $REDIS_PORT, 'DATABASE': 1, 'SSL': False},
}
SECRET_KEY = '$SECRET_KEY'
API_TOKEN_PEPPERS = {1: '$PEPPER'}
PLUGINS = $plugins

# Nothing phones home: no census, no release check, no plugin catalog, no
# Copilot, no map links. Any HTTP request NetBox would still make through its
# proxy settings goes to a closed loopback port.
CENSUS_REPORTING_ENABLED = False
RELEASE_CHECK_URL = None
ISOLATED_DEPLOYMENT = True
HTTP_PROXIES = {'http': 'http://127.0.0.1:9', 'https': 'http://127.0.0.1:9'}
MAPS_URL = None
SENTRY_ENABLED = False

# Tests page through many objects.
MAX_PAGE_SIZE = 1000
PAGINATE_COUNT = 50
TIME_ZONE = 'UTC'
EOF
  umask 022
}

nb() { NETBOX_ROOT=$NB_ROOT "$VENV/bin/netbox" "$@"; }

# The cached database dump is keyed by NetBox version and plugin set.
db_dump_path() {
  local v
  v=$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("netbox"))')
  echo "$CACHE/netbox-$v-plugins$PLUGINS.pgdump"
}

migrate() {
  local dump fresh=0
  dump=$(db_dump_path)
  if ! db_exists; then
    psql_admin -c "create database netbox owner netbox"
    fresh=1
    if [ "$DB_CACHE" = 1 ] && [ -s "$dump" ]; then
      say "restoring the migrated database from $dump"
      pg "$PG_BIN/pg_restore" -h "$DIR/pg" -p "$PG_PORT" -U postgres -d netbox --no-owner \
        --role=netbox "$dump" > "$DIR/restore.log" 2>&1 \
        || { tail -n 30 "$DIR/restore.log" >&2; die "pg_restore failed"; }
      fresh=0
    fi
  fi
  say "netbox migrate"
  nb migrate --no-input > "$DIR/migrate.log" 2>&1 || { show_logs; die "netbox migrate failed"; }
  say "migrations applied: $(grep -c 'Applying' "$DIR/migrate.log" || true)"
  if [ $fresh = 1 ] && [ "$DB_CACHE" = 1 ]; then
    # Keep the freshly migrated database (no users, no tokens yet) for later labs.
    pg "$PG_BIN/pg_dump" -h "$DIR/pg" -p "$PG_PORT" -U postgres -Fc netbox > "$dump.tmp" \
      && mv "$dump.tmp" "$dump" && say "cached the migrated database in $dump" \
      || { rm -f "$dump.tmp"; say "could not cache the database (ignored)"; }
  fi
}

create_admin() {
  DJANGO_SUPERUSER_PASSWORD=$ADMIN_PASSWORD nb shell --no-imports -c "
from django.contrib.auth import get_user_model
U = get_user_model()
u = U.objects.filter(username='$ADMIN').first()
if u is None:
    U.objects.create_superuser('$ADMIN', 'admin@example.invalid', '$ADMIN_PASSWORD')
    print('created superuser $ADMIN')
else:
    u.set_password('$ADMIN_PASSWORD'); u.is_superuser = True; u.is_active = True; u.save()
    print('superuser $ADMIN exists')
" > "$DIR/admin.log" 2>&1 || { cat "$DIR/admin.log" >&2; die "could not create the superuser"; }
  say "$(tail -n 1 "$DIR/admin.log")"
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }

start_netbox() {
  local gpid=''
  local ctl=()
  # gunicorn >= 25 opens a control socket in ~/.gunicorn, one path for every
  # gunicorn of the user: two labs would fight over it.
  if "$VENV/bin/gunicorn" --help 2>/dev/null | grep -q -- --no-control-socket; then ctl=(--no-control-socket); fi
  if alive "$DIR/gunicorn.pid"; then
    say "NetBox (gunicorn) already running on 127.0.0.1:$NB_PORT"
  else
    rm -f "$DIR/gunicorn.pid"
    : > "$DIR/gunicorn.log"
    # --preload: the app is loaded once and the workers are forked from it
    # (less memory, faster start; a broken config fails the master at once).
    NETBOX_ROOT=$NB_ROOT setsid "$VENV/bin/gunicorn" netbox.wsgi \
      --bind "127.0.0.1:$NB_PORT" --workers 2 --threads 2 --timeout 300 --preload \
      --graceful-timeout 10 --pid "$DIR/gunicorn.pid" --access-logfile "$DIR/access.log" \
      --error-logfile "$DIR/gunicorn.log" --capture-output "${ctl[@]}" \
      < /dev/null > /dev/null 2>&1 &
    gpid=$!
  fi
  local until=$((SECONDS + 180)) code
  while :; do
    code=$(http_code "http://127.0.0.1:$NB_PORT/api/status/")
    # 403 without a token: Django answered (LOGIN_REQUIRED).
    case $code in 200|403) break ;; esac
    if [ $SECONDS -ge $until ]; then show_logs; die "NetBox does not answer on 127.0.0.1:$NB_PORT (last HTTP $code)"; fi
    if [ -n "$gpid" ] && ! kill -0 "$gpid" 2>/dev/null; then show_logs; die "gunicorn exited"; fi
    sleep 0.5
  done
  say "NetBox answers on http://127.0.0.1:$NB_PORT/"
}

# stop_pidfile PIDFILE WHAT [SIGNAL [TENTHS]]: stops the process and its
# children: SIGNAL, then SIGKILL after TENTHS tenths of a second.
stop_pidfile() {
  local f=$1 what=$2 sig=${3:-TERM} wait=${4:-150} p i kids
  if ! alive "$f"; then say "$what not running"; rm -f "$f"; return 0; fi
  p=$(cat "$f")
  kids=$(pgrep -P "$p" || true)
  kill -s "$sig" "$p"
  for i in $(seq "$wait"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  # shellcheck disable=SC2086
  kill -9 "$p" $kids 2>/dev/null || true
  rm -f "$f"
  say "$what stopped (pid $p)"
}

# gunicorn: INT is its quick shutdown (TERM waits for requests in flight).
# Its workers are gone within a second, but the master lingers some 10 s
# more holding the listening socket (connections hang instead of being
# refused), so it gets SIGKILL after 3 s: nothing of it needs saving.
stop_netbox() { stop_pidfile "$DIR/gunicorn.pid" "NetBox (gunicorn)" INT 30; }

# ---------------------------------------------------------------- tokens

provision() { # VERSION -> prints the response
  curl -sS --max-time 60 -X POST "http://127.0.0.1:$NB_PORT/api/users/tokens/provision/" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' \
    -d "{\"username\": \"$ADMIN\", \"password\": \"$ADMIN_PASSWORD\", \"version\": $1, \"description\": \"reachd lab v$1\"}"
}

token_works() { # AUTH-HEADER-VALUE
  [ "$(http_code -H "Authorization: $1" "http://127.0.0.1:$NB_PORT/api/status/")" = 200 ]
}

# token VERSION SCHEME KEPT: KEPT if it still authenticates, else a new
# token of VERSION (v1: the response's `token`; v2: nbt_<key>.<token>).
token() {
  local version=$1 scheme=$2 kept=$3 r t
  if [ -n "$kept" ] && token_works "$scheme $kept"; then
    say "v$version token reused" >&2
    echo "$kept"
    return
  fi
  r=$(provision "$version")
  t=$(python3 -c 'import json,sys
d = json.load(sys.stdin); v = int(sys.argv[1]); assert d["version"] == v, d
print(d["token"] if v == 1 else "nbt_%s.%s" % (d["key"], d["token"]))' "$version" <<<"$r") \
    || die "v$version token provisioning failed: $r"
  token_works "$scheme $t" || die "the v$version token does not authenticate"
  say "v$version token provisioned" >&2
  echo "$t"
}

tokens() {
  local v1='' v2=''
  if [ -f "$DIR/env" ]; then
    v1=$(. "$DIR/env"; echo "${NETBOX_TOKEN_V1:-}")
    v2=$(. "$DIR/env"; echo "${NETBOX_TOKEN_V2:-}")
  fi
  TOKEN_V1=$(token 1 Token "$v1")
  TOKEN_V2=$(token 2 Bearer "$v2")
}

write_env() {
  umask 077
  {
    echo "# Written by lab.sh up; source it."
    printf 'NETBOX_URL=%q\n' "http://127.0.0.1:$NB_PORT"
    printf 'NETBOX_TOKEN_V1=%q\n' "$TOKEN_V1"
    printf 'NETBOX_TOKEN_V2=%q\n' "$TOKEN_V2"
    printf 'NETBOX_USER=%q\nNETBOX_PASSWORD=%q\n' "$ADMIN" "$ADMIN_PASSWORD"
    printf 'NETBOX_LAB_DIR=%q\nNETBOX_ROOT=%q\nNETBOX_VENV=%q\n' "$DIR" "$NB_ROOT" "$VENV"
    printf 'NETBOX_PG_PORT=%q\nNETBOX_REDIS_PORT=%q\n' "$PG_PORT" "$REDIS_PORT"
    printf 'NETBOX_PIDFILES=%q\n' "$DIR/gunicorn.pid $DIR/redis.pid $PGDATA/postmaster.pid"
    printf 'NETBOX_PIDS=%q\n' "$(pids)"
    printf 'NETBOX_PROMETHEUS_SD=%q\n' "$([ "$PLUGINS" = 1 ] && echo "http://127.0.0.1:$NB_PORT/api/plugins/prometheus-sd/devices/")"
  } > "$DIR/env"
  umask 022
}

pids() {
  local g r p
  g=$(cat "$DIR/gunicorn.pid" 2>/dev/null || true)
  r=$(cat "$DIR/redis.pid" 2>/dev/null || true)
  p=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
  echo "gunicorn=$g redis=$r postgres=$p"
}

rss_mib() { # total RSS of the lab's processes
  local pids=() p
  for p in $(cat "$DIR/gunicorn.pid" 2>/dev/null) $(cat "$DIR/redis.pid" 2>/dev/null) $(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null); do
    pids+=("$p") ; pids+=($(pgrep -P "$p" || true))
  done
  [ ${#pids[@]} -gt 0 ] || { echo 0; return; }
  ps -o rss= -p "$(IFS=,; echo "${pids[*]}")" | awk '{s+=$1} END {printf "%d", s/1024}'
}

# ---------------------------------------------------------------- commands

trap 'rc=$?; [ $rc -eq 0 ] || echo "lab.sh $CMD $DIR failed (exit $rc); logs in $DIR" >&2' EXIT

case $CMD in
  up)
    [ "$(id -u)" -eq 0 ] || die "run as root (starts postgres as user postgres)"
    t_all=$SECONDS
    load_state
    timed apt install_debs
    timed pip install_venv
    timed postgres eval 'init_pg; start_pg'
    timed redis start_redis
    write_config
    timed migrate migrate
    timed superuser create_admin
    timed start start_netbox
    timed tokens tokens
    write_env
    say "lab up in $((SECONDS - t_all)) s (${TIMES[*]}); RSS of its processes: $(rss_mib) MiB"
    say "env: $DIR/env  ->  NETBOX_URL=http://127.0.0.1:$NB_PORT"
    ;;
  down)
    load_state
    stop_netbox
    stop_pidfile "$DIR/redis.pid" redis
    if [ -f "$PGDATA/PG_VERSION" ] && pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null && say "postgres stopped"
    else
      say "postgres not running"
    fi
    ;;
  stop-netbox)
    load_state
    stop_netbox
    ;;
  start-netbox)
    load_state
    alive "$DIR/redis.pid" || die "redis is not running (lab.sh up $DIR)"
    pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 || die "postgres is not running (lab.sh up $DIR)"
    t0=$SECONDS
    start_netbox
    say "step 'start' took $((SECONDS - t0)) s"
    if [ -f "$DIR/env" ]; then
      sed -i "s|^NETBOX_PIDS=.*|NETBOX_PIDS=$(printf '%q' "$(pids)")|" "$DIR/env"
    fi
    ;;
  status)
    load_state
    alive "$DIR/gunicorn.pid" && echo "netbox   up   http://127.0.0.1:$NB_PORT (pid $(cat "$DIR/gunicorn.pid"))" || echo "netbox   down"
    alive "$DIR/redis.pid" && echo "redis    up   127.0.0.1:$REDIS_PORT" || echo "redis    down"
    pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 && echo "postgres up   127.0.0.1:$PG_PORT" || echo "postgres down"
    echo "RSS: $(rss_mib) MiB"
    ;;
  *) usage ;;
esac
