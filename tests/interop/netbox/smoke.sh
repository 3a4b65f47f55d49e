#!/usr/bin/env bash
# Checks a lab made by `lab.sh up DIR` end to end through the REST API:
# devices with primary IPs, config contexts carrying a reachd block, both
# token versions, pagination over 1200 devices, the prometheus-sd plugin and
# NetBox going down and coming back. Leaves the lab up, its objects in place.
#
#   smoke.sh DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:?usage: smoke.sh DIR}
# shellcheck disable=SC1091
. "$DIR/env"
export NETBOX_URL NETBOX_TOKEN_V1 NETBOX_TOKEN_V2
NB=(python3 "$HERE/nb.py" --compact)

pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
no() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@" > /dev/null; then ok "$what"; else no "$what"; fi; }
api() { curl -sS --max-time 120 -H "Authorization: $1" -H 'Accept: application/json' "$NETBOX_URL/api/$2"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H "Authorization: $1" "$NETBOX_URL/api/$2"; }

# A clean slate for the objects this script makes (the 1200 bulk devices are
# kept: NetBox takes minutes to delete and to make them again).
"${NB[@]}" delete-devices --prefix smoke- > /dev/null

"${NB[@]}" config-context --name reachd-fra1 --sites smoke-fra1 \
  --data '{"reachd": {"checks": ["icmp", "ssh"], "ssh": {"port": 22}}}' > /dev/null
"${NB[@]}" config-context --name reachd-router --roles router --weight 2000 \
  --data '{"reachd": {"ssh": {"user": "netops"}}}' > /dev/null
"${NB[@]}" create-device --name smoke-r1 --site smoke-fra1 --role router --platform cisco_iosxe \
  --ip4 127.0.0.11/32 --ip6 ::1/128 --tags monitored \
  --local-context '{"reachd": {"ssh": {"port": 2222}}}' > /dev/null
"${NB[@]}" create-device --name smoke-r2 --site smoke-fra1 --role router --platform junos \
  --ip4 127.0.0.12/32 --tags monitored,no-telnet > /dev/null
"${NB[@]}" create-device --name smoke-s1 --site smoke-ber1 --role switch --ip4 127.0.0.13/32 > /dev/null

api "Token $NETBOX_TOKEN_V1" 'dcim/devices/?site=smoke-fra1' > "$DIR/smoke-devices.json"
check "two devices at smoke-fra1" jq -e '.count == 2' "$DIR/smoke-devices.json"
check "r1: primary_ip4 127.0.0.11/32" jq -e '.results[] | select(.name == "smoke-r1") | .primary_ip4.address == "127.0.0.11/32"' "$DIR/smoke-devices.json"
check "r1: primary_ip6 ::1/128" jq -e '.results[] | select(.name == "smoke-r1") | .primary_ip6.address == "::1/128"' "$DIR/smoke-devices.json"
# Merged by weight, local context last: port from the device, user from the
# role context, checks from the site context.
check "r1: config_context merges the reachd blocks" jq -e '.results[] | select(.name == "smoke-r1") | .config_context.reachd == {"checks": ["icmp", "ssh"], "ssh": {"port": 2222, "user": "netops"}}' "$DIR/smoke-devices.json"
check "r2: config_context from site and role" jq -e '.results[] | select(.name == "smoke-r2") | .config_context.reachd.ssh == {"port": 22, "user": "netops"}' "$DIR/smoke-devices.json"
check "r1: tags and platform" jq -e '.results[] | select(.name == "smoke-r1") | ([.tags[].slug] == ["monitored"]) and .platform.slug == "cisco_iosxe" and .role.slug == "router"' "$DIR/smoke-devices.json"

check "v1 token (Token) reads devices" [ "$(code "Token $NETBOX_TOKEN_V1" dcim/devices/)" = 200 ]
check "v2 token (Bearer nbt_) reads devices" [ "$(code "Bearer $NETBOX_TOKEN_V2" dcim/devices/)" = 200 ]
check "a wrong token is refused (403)" [ "$(code "Token 0123456789abcdef0123456789abcdef01234567" dcim/devices/)" = 403 ]
check "no token is refused (403)" [ "$(curl -s -o /dev/null -w '%{http_code}' "$NETBOX_URL/api/dcim/devices/")" = 403 ]
check "v2 token via nb.py" bash -c '"$@" --token "$NETBOX_TOKEN_V2" get "dcim/devices/?name=smoke-r2" | jq -e ".count == 1" >/dev/null' _ "${NB[@]}"

"${NB[@]}" patch-device smoke-r2 --status offline --local-context '{"reachd": {"skip": true}}' > /dev/null
check "patch-device: status and local context" bash -c '"$@" get "dcim/devices/?name=smoke-r2" | jq -e ".results[0] | .status.value == \"offline\" and .config_context.reachd.skip == true" >/dev/null' _ "${NB[@]}"
"${NB[@]}" delete-device smoke-s1 > /dev/null
check "delete-device" bash -c '"$@" get "dcim/devices/?name=smoke-s1" | jq -e ".count == 0" >/dev/null' _ "${NB[@]}"

if [ "$("${NB[@]}" get 'dcim/devices/?site=smoke-bulk&limit=1' | jq .count)" != 1200 ]; then
  "${NB[@]}" delete-devices --prefix bulk > /dev/null
  t0=$SECONDS
  "${NB[@]}" bulk-devices --count 1200 --prefix bulk --site smoke-bulk --role router --tags monitored \
    --ip4-from 127.1.0.1 > "$DIR/smoke-bulk.json"
  echo "     1200 devices with interface and primary_ip4 in $((SECONDS - t0)) s"
fi
api "Token $NETBOX_TOKEN_V1" 'dcim/devices/?site=smoke-bulk&limit=100' > "$DIR/smoke-page.json"
check "pagination: count 1200, 100 results, a next link" jq -e '.count == 1200 and (.results | length) == 100 and (.next | test("offset=100"))' "$DIR/smoke-page.json"
check "all pages: 1200 devices, each with a primary_ip4" bash -c '"$@" get "dcim/devices/?site=smoke-bulk" --all | jq -e "length == 1200 and all(.[]; .primary_ip4 != null)" >/dev/null' _ "${NB[@]}"

if [ -n "${NETBOX_PROMETHEUS_SD:-}" ]; then
  curl -sS --max-time 120 -H "Authorization: Token $NETBOX_TOKEN_V1" "$NETBOX_PROMETHEUS_SD?site=smoke-fra1" > "$DIR/smoke-sd.json"
  check "prometheus-sd: targets for smoke-fra1" jq -e 'length == 2 and (map(.targets[0]) | sort) == ["smoke-r1", "smoke-r2"]' "$DIR/smoke-sd.json"
  check "prometheus-sd: primary ip label" jq -e '.[] | select(.targets[0] == "smoke-r1") | .labels.__meta_netbox_primary_ip4 == "127.0.0.11"' "$DIR/smoke-sd.json"
fi

bash "$HERE/lab.sh" stop-netbox "$DIR" > /dev/null
check "stop-netbox: the API is gone" [ "$(code "Token $NETBOX_TOKEN_V1" status/)" = 000 ]
t0=$SECONDS
bash "$HERE/lab.sh" start-netbox "$DIR" > /dev/null
echo "     start-netbox took $((SECONDS - t0)) s"
check "start-netbox: the API is back, the same token works" [ "$(code "Token $NETBOX_TOKEN_V1" status/)" = 200 ]
check "start-netbox: the devices are still there" bash -c '"$@" get "dcim/devices/?name=smoke-r1" | jq -e ".count == 1" >/dev/null' _ "${NB[@]}"

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
