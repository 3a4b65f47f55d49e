#!/usr/bin/env bash
# Interop: reachd fed by a real NetBox 4.7 (PyPI, Python 3.12, PostgreSQL,
# redis, gunicorn; tests/interop/netbox/lab.sh), all on loopback, checking
# simulated devices on loopback (`reachd sim`). Devices, sites, roles, tags,
# primary IPs and config contexts are made through NetBox's REST API; then:
# - `validate` and `inventory` read exactly the right devices (filter by
#   site and tag; a device without a primary IP skipped and counted), with
#   the right labels, ports and credentials, with v1 and v2 tokens; a wrong
#   token is an error naming the source;
# - the daemon checks them (ssh ok, telnet ok, a wrong password from the
#   config context auth_failed) and exports the source's metrics;
# - a device tagged in NetBox appears at the next refresh, a deleted one
#   goes; a device whose reachd context turns invalid keeps its last good
#   settings;
# - NetBox stops: the devices stay, reachd_inventory_source_up drops to 0,
#   one log line; NetBox is back: 1 again;
# - 1,200 devices read over pages; the prometheus-sd plugin's list, read
#   as an http_sd source, gives the same devices as the netbox source.
#
# The lab is set up once per CI run: .ci/run starts `lab.sh up` early, in
# the background, and says so in REACHD_NETBOX_LAB (its directory) and
# REACHD_NETBOX_LAB_PID; run alone, this script sets one up (and down).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
cd "$ROOT"
need python3 jq curl
need_reachd
LAB_SH=$ROOT/tests/interop/netbox/lab.sh
NBPY=$ROOT/tests/interop/netbox/nb.py

if [ -n "${REACHD_NETBOX_LAB:-}" ]; then
  LAB=$REACHD_NETBOX_LAB
  if [ -n "${REACHD_NETBOX_LAB_PID:-}" ]; then
    t0=$SECONDS
    while kill -0 "$REACHD_NETBOX_LAB_PID" 2>/dev/null; do sleep 2; done
    echo "waited $((SECONDS - t0)) s for the lab .ci/run started"
  fi
  if [ ! -s "$LAB/env" ] || [ -e "$LAB/up.failed" ]; then
    echo "the NetBox lab did not come up:"; tail -n 40 "$LAB/up.log" 2>/dev/null || true
    exit 1
  fi
else
  # Not under $WORK (mode 700): postgres runs as its own user.
  LAB=$(mktemp -d /tmp/reachd-nblab.XXXXXX)
  chmod 755 "$LAB"
  t0=$SECONDS
  bash "$LAB_SH" up "$LAB"
  echo "lab up in $((SECONDS - t0)) s"
  stop_lab() { bash "$LAB_SH" down "$LAB" > /dev/null 2>&1 || true; rm -rf "$LAB"; }
  trap 'stop_lab; cleanup' EXIT
fi
# shellcheck disable=SC1091
. "$LAB/env"
export NETBOX_URL NETBOX_TOKEN_V1 NETBOX_TOKEN_V2
nb() { python3 "$NBPY" --compact "$@" > /dev/null; }
# has PATTERN FILE: grep, showing the file when the pattern is not there.
has() { grep -q -- "$1" "$2" || { cat "$2"; return 1; }; }

# The simulated devices: SSH and Telnet on 127.0.1.1-4, admin/admin.
SSHP=$(free_port) TELP=$(free_port)
"$REACHD" sim -n 4 --base 127.0.1.1 --port "$SSHP" --telnet-port "$TELP" > "$WORK/sim.log" 2>&1 &
PIDS+=("$!")

# A clean slate for this script's objects (a lab kept from an earlier run).
nb delete-devices --prefix nbt-
nb delete-devices --prefix nbbulk
nb config-context --name nbt-switches --roles nbt-switch \
  --data '{"reachd": {"labels": {"team": "access"}}}'
nb create-device --name nbt-r1 --site nbt-fra1 --role nbt-router --platform cisco_iosxe \
  --ip4 127.0.1.1/32 --tags monitored \
  --local-context "{\"reachd\": {\"checks\": [\"ssh\"], \"ssh\": {\"port\": $SSHP}}}"
nb create-device --name nbt-r2 --site nbt-fra1 --role nbt-switch --platform cisco_ios \
  --ip4 127.0.1.2/32 --tags monitored,access \
  --local-context "{\"reachd\": {\"checks\": [\"telnet\"], \"telnet\": {\"port\": $TELP}}}"
nb create-device --name nbt-r3 --site nbt-fra1 --role nbt-router --ip4 127.0.1.3/32 --tags monitored \
  --local-context "{\"reachd\": {\"checks\": [\"ssh\"], \"ssh\": {\"port\": $SSHP}, \"password\": \"not-the-password\"}}"
nb create-device --name nbt-noip --site nbt-fra1 --role nbt-router --tags monitored
nb create-device --name nbt-ams --site nbt-ams1 --role nbt-router --ip4 127.0.1.9/32 --tags monitored
nb create-device --name nbt-later --site nbt-fra1 --role nbt-router --ip4 127.0.1.4/32 \
  --local-context "{\"reachd\": {\"checks\": [\"ssh\"], \"ssh\": {\"port\": $SSHP}}}"

RPORT=$(free_port)
config() { # config TOKEN_VAR [EXTRA SOURCE LINES]
  cat <<YAML
listen: 127.0.0.1:$RPORT
defaults:
  ssh: {interval: 2s, timeout: 2s}
  telnet: {interval: 2s, timeout: 2s}
profiles:
  lab: {username: admin, password: admin, secondary: cisco, ssh: {host_key: off}}
inventory:
  - netbox:
      url: $NETBOX_URL
      token: {env: $1}
      filter: {site: nbt-fra1, tag: monitored}
      refresh: 5s
      timeout: 10s
      profile: lab
      name: nb
YAML
}
config NETBOX_TOKEN_V1 > "$WORK/v1.yaml"
config NETBOX_TOKEN_V2 > "$WORK/v2.yaml"

# validate and inventory read NetBox once.
"$REACHD" validate --config "$WORK/v1.yaml" > "$WORK/valid.out" 2>&1 || true
check_out "validate (v1 token): 3 devices, nbt-noip not checked" \
  has 'netbox nb: 3 devices, 1 not checked: device "nbt-noip" (id [0-9]*) has no primary IP address' "$WORK/valid.out"
check_out "validate (v2 token) too" "$REACHD" validate --config "$WORK/v2.yaml"
NETBOX_TOKEN_BAD=0123456789abcdef0123456789abcdef01234567 \
  "$REACHD" validate --config <(config NETBOX_TOKEN_BAD) > "$WORK/bad.out" 2>&1 && no "a wrong token validates" || true
check_out "a wrong token: an error naming the source and the token" \
  has "^netbox nb: GET $NETBOX_URL/api/dcim/devices/?limit=1000&site=nbt-fra1&tag=monitored: HTTP 403 Forbidden (is the token right" "$WORK/bad.out"
"$REACHD" inventory --config "$WORK/v2.yaml" --format json > "$WORK/inv.json"
check_out "inventory: exactly nbt-r1, nbt-r2, nbt-r3" \
  jq -se '[.[].name] | sort == ["nbt-r1", "nbt-r2", "nbt-r3"]' "$WORK/inv.json"
check_out "inventory: labels from site, role, tags, platform and a config context" jq -se '
  (.[] | select(.name == "nbt-r2") | .labels) as $l
  | $l.site == "nbt-fra1" and $l.role == "nbt-switch" and $l.tags == ",access,monitored,"
    and $l.platform == "cisco_ios" and $l.team == "access"' "$WORK/inv.json"
check_out "inventory: addresses, ports and credentials" jq -se --argjson s "$SSHP" --argjson t "$TELP" '
  (.[] | select(.name == "nbt-r1")) as $r1 | (.[] | select(.name == "nbt-r2")) as $r2
  | $r1.address == "127.0.1.1" and ($r1.checks | length) == 1 and $r1.checks[0].protocol == "ssh"
    and $r1.checks[0].port == $s and $r1.checks[0].username == "admin" and $r1.checks[0].password_set
    and $r2.checks[0].protocol == "telnet" and $r2.checks[0].port == $t' "$WORK/inv.json"

# The daemon, with the v2 token.
"$REACHD" run --config "$WORK/v2.yaml" --log-format json > "$WORK/reachd.log" 2>&1 &
PIDS+=("$!")
status() { curl -sf "http://127.0.0.1:$RPORT/api/v1/status"; }
verdict_is() { # DEVICE PROTOCOL REASON
  status | jq -e --arg d "$1" --arg p "$2" --arg r "$3" \
    '.status[] | select(.device == $d and .protocol == $p) | .reason == $r' > /dev/null
}
devices_are() { # the sorted device names, as one string
  [ "$(status | jq -r '[.status[].device] | unique | join(" ")')" = "$1" ]
}
metric() { curl -sf "http://127.0.0.1:$RPORT/metrics" | grep -F "$1" | awk '{print $2}'; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
UP='reachd_inventory_source_up{kind="netbox",source="nb"}'

check "the daemon checks nbt-r1, nbt-r2, nbt-r3" wait_for 20 devices_are "nbt-r1 nbt-r2 nbt-r3"
check "nbt-r1: ssh ok (port from its config context)" wait_for 20 verdict_is nbt-r1 ssh ok
check "nbt-r2: telnet ok" wait_for 20 verdict_is nbt-r2 telnet ok
check "nbt-r3: auth_failed (the password in its config context)" wait_for 20 verdict_is nbt-r3 ssh auth_failed
check "reachd_inventory_source_up 1" metric_is "$UP" 1
check "reachd_inventory_source_devices 3" metric_is 'reachd_inventory_source_devices{kind="netbox",source="nb"}' 3
check "reachd_inventory_source_skipped_devices 1" metric_is 'reachd_inventory_source_skipped_devices{kind="netbox",source="nb"}' 1
check "reachd_device_info carries NetBox's labels" bash -c \
  'curl -sf "http://127.0.0.1:$1/metrics" | grep "^reachd_device_info{" | grep "device=\"nbt-r2\"" | grep "site=\"nbt-fra1\"" | grep -q "tags=\",access,monitored,\""' _ "$RPORT"

# Changes in NetBox, applied at the next refresh.
nb patch-device nbt-later --tags monitored
nb delete-device nbt-r3
check "tagged in NetBox: nbt-later checked; deleted: nbt-r3 gone" wait_for 20 devices_are "nbt-later nbt-r1 nbt-r2"
check "nbt-later: ssh ok" wait_for 20 verdict_is nbt-later ssh ok
check "the change was applied as a reload (logged)" grep -q '"inventory source nb changed' "$WORK/reachd.log"

# A device's reachd context turns invalid: it keeps its last good settings.
nb patch-device nbt-r2 --local-context '{"reachd": {"checks": ["telnet"], "telnet": {"port": "twenty-three"}}}'
check "an invalid context is logged, naming the device" wait_for 20 grep -q 'nbt-r2.*telnet.port.*last good settings are kept' "$WORK/reachd.log"
check "nbt-r2 is still checked, telnet ok" verdict_is nbt-r2 telnet ok
"$REACHD" validate --config "$WORK/v2.yaml" > "$WORK/invalid.out" 2>&1 && no "validate accepts an invalid context" || true
check_out "validate names the invalid device" \
  has '^netbox nb: device "nbt-r2" (id [0-9]*): telnet.port: ' "$WORK/invalid.out"
nb patch-device nbt-r2 --local-context "{\"reachd\": {\"checks\": [\"telnet\"], \"telnet\": {\"port\": $TELP}}}"

# NetBox goes down: nothing is lost.
bash "$LAB_SH" stop-netbox "$LAB" > /dev/null
check "NetBox down: reachd_inventory_source_up 0" wait_for 30 metric_is "$UP" 0
said=$(grep -c 'inventory source cannot be read' "$WORK/reachd.log" || true)
sleep 12
check "NetBox down: every device still checked" devices_are "nbt-later nbt-r1 nbt-r2"
check "NetBox down: said once, not at every refresh ($said line)" \
  test "$said" -ge 1 -a "$(grep -c 'inventory source cannot be read' "$WORK/reachd.log")" = "$said"
bash "$LAB_SH" start-netbox "$LAB" > /dev/null
check "NetBox back: reachd_inventory_source_up 1" wait_for 40 metric_is "$UP" 1
check "NetBox back: said in the log" grep -q 'inventory source answers again' "$WORK/reachd.log"
check "NetBox back: the same devices" devices_are "nbt-later nbt-r1 nbt-r2"

# Pages: 1,200 devices, made by bulk POSTs of 400 (addresses in their
# local config contexts: making 1,200 interfaces and IPs takes minutes).
t0=$SECONDS
site=$(python3 "$NBPY" --compact ensure site nbt-bulk | jq .id)
role=$(python3 "$NBPY" --compact ensure role nbt-router | jq .id)
dtype=$(python3 "$NBPY" --compact get 'dcim/device-types/?slug=lab-box' | jq '.results[0].id')
for chunk in 0 1 2; do
  body=$(python3 -c 'import json, sys
c, site, role, dtype = map(int, sys.argv[1:])
print(json.dumps([{"name": f"nbbulk{i:04d}", "site": site, "role": role, "device_type": dtype,
  "status": "active", "local_context_data": {"reachd": {"address": f"127.3.{i // 256}.{i % 256}"}}}
  for i in range(c * 400 + 1, c * 400 + 401)]))' "$chunk" "$site" "$role" "$dtype")
  nb raw POST dcim/devices/ "$body"
done
echo "     1200 devices made in NetBox in $((SECONDS - t0)) s"
sed 's/filter: .*/filter: {site: nbt-bulk}/' "$WORK/v1.yaml" > "$WORK/bulk.yaml"
t0=$SECONDS
"$REACHD" inventory --config "$WORK/bulk.yaml" --format json > "$WORK/bulk.json"
echo "     reachd read them (2 pages) in $((SECONDS - t0)) s"
check_out "pagination: 1200 devices, each once, with its address" jq -se '
  length == 1200 and ([.[].name] | unique | length) == 1200
  and (map(select(.name == "nbbulk1200"))[0].address == "127.3.4.176")
  and (map(select(.name == "nbbulk0001"))[0].address == "127.3.0.1")' "$WORK/bulk.json"

# NetBox ignores a filter it does not know (it gives every device it has):
# reachd says so.
sed 's/filter: .*/filter: {monitoring_zone: fra}/' "$WORK/v1.yaml" > "$WORK/unknown-filter.yaml"
"$REACHD" validate --config "$WORK/unknown-filter.yaml" > "$WORK/unknown-filter.out" 2>&1 || true
check_out "a filter NetBox ignores: validate warns" \
  has 'netbox nb: warning: the filter (monitoring_zone) keeps every device NetBox has' "$WORK/unknown-filter.out"

# The prometheus-sd plugin's list, as an http_sd source.
if [ -n "${NETBOX_PROMETHEUS_SD:-}" ]; then
  cat > "$WORK/sd.yaml" <<YAML
profiles: {lab: {username: admin, password: admin, ssh: {host_key: off}, checks: [ssh]}}
inventory:
  - http_sd: {url: "$NETBOX_PROMETHEUS_SD?site=nbt-fra1&tag=monitored", token: {env: NETBOX_TOKEN_V1}, profile: lab, name: sd}
YAML
  "$REACHD" inventory --config "$WORK/sd.yaml" --format json > "$WORK/sd.json"
  "$REACHD" inventory --config "$WORK/v1.yaml" --format json > "$WORK/nb.json"
  view='[.[] | {name, address, site: .labels.site, role: .labels.role, tags: .labels.tags, platform: .labels.platform}] | sort_by(.name)'
  check_out "http_sd from the prometheus-sd plugin: the devices, addresses and labels the netbox source gives" \
    diff <(jq -s "$view" "$WORK/nb.json") <(jq -s "$view" "$WORK/sd.json")
else
  no "the lab has no prometheus-sd plugin"
fi

check "no token in the logs" bash -c '! grep -qF -e "$1" -e "${2#nbt_}" "$3"' _ "$NETBOX_TOKEN_V1" "$NETBOX_TOKEN_V2" "$WORK/reachd.log"
summary
