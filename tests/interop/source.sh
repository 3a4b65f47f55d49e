#!/usr/bin/env bash
# Source selection (issue 14, item 1): `source_interface` and
# `source_address` for ICMP, SSH and Telnet checks, in network namespaces
# this script creates (and deletes on every exit). Addresses come from
# 198.18.0.0/15 and 2001:2::/48, used only inside those namespaces; no name
# is resolved.
#
#   mon (reachd) ── mgmt0 ═══ veth ═══ farv ── far (devices, `reachd sim`)
#       198.18.20.1/29, .3/29            198.18.20.2/29
#       2001:2::1/64                     2001:2::2/64
#   far's loopback holds the devices: 198.18.21.2 (the "VRF" network),
#   198.18.22.2 (behind an ACL), 2001:2:1::2.
#
#   (a) a management "VRF" without the VRF driver: in mon, the only route
#       to 198.18.21.0/24 and 2001:2:1::/64 lives in table 100, selected by
#       `ip rule add oif mgmt0 table 100`, the way a VRF acts on a bound
#       socket. Without source_interface a check finds no route; with
#       `source_interface: mgmt0` it is up: ICMP (IPv4 unprivileged as
#       nobody and raw as root, IPv6 raw), SSH and Telnet (`reachd sim`
#       bound to 198.18.21.2 in far).
#   (b) an ACL'd source address: far admits 198.18.22.2 from 198.18.20.3
#       only (a policy rule drops every other source); mon's primary address
#       is .1. The checks are down by default and up with
#       `source_address: 198.18.20.3`.
#   (c) startup errors naming the device: an interface that does not
#       exist, an address that is not this host's.
#   (d) `reachd run`: checks through mgmt1 are up, reachd_source_info names
#       their source; mgmt1 deleted → `unreachable`, "source interface mgmt1
#       is gone"; re-created (a new ifindex) → up again;
#   (e) a real VRF device (vrf-mgmt) where the kernel has the VRF driver;
#       skipped, saying so, where it has not (and not written yet).
#
# Usage: sudo REACHD=target/debug/reachd tests/interop/source.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
if [[ $EUID -ne 0 ]]; then
  echo "SKIP: tests/interop/source.sh needs root (network namespaces)" >&2
  exit 77
fi
need ip setpriv jq curl ss python3
need_reachd

PFX="rdsrc$$"
MON=${PFX}mon FAR=${PFX}far VRFNS=${PFX}vrf
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
ns_cleanup() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PFX}" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
}
# The simulator (in PIDS) first, then the namespaces.
trap 'cleanup; ns_cleanup' EXIT
trap 'exit 130' INT TERM HUP

netns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
}
netns "$MON"
netns "$FAR"
ip -n "$MON" link add mgmt0 type veth peer name farv netns "$FAR"
ip -n "$MON" addr add 198.18.20.1/29 dev mgmt0
ip -n "$MON" addr add 198.18.20.3/29 dev mgmt0
ip -n "$FAR" addr add 198.18.20.2/29 dev farv
ip -n "$MON" addr add 2001:2::1/64 dev mgmt0 nodad
ip -n "$FAR" addr add 2001:2::2/64 dev farv nodad
ip -n "$MON" link set mgmt0 up
ip -n "$FAR" link set farv up
for a in 198.18.21.2/32 198.18.22.2/32; do ip -n "$FAR" addr add "$a" dev lo; done
ip -n "$FAR" addr add 2001:2:1::2/128 dev lo
# The "VRF": routes to the devices only in table 100, for sockets bound to mgmt0.
ip -n "$MON" route add 198.18.21.0/24 via 198.18.20.2 dev mgmt0 table 100
ip -n "$MON" -6 route add 2001:2:1::/64 via 2001:2::2 dev mgmt0 table 100
ip -n "$MON" rule add oif mgmt0 table 100
ip -n "$MON" -6 rule add oif mgmt0 table 100
# The ACL'd network: routed by the main table.
ip -n "$MON" route add 198.18.22.0/24 via 198.18.20.2 dev mgmt0
# far admits 198.18.22.2 from 198.18.20.3 only. The local table's rule
# (preference 0) would deliver first: it moves after the ACL.
ip -n "$FAR" rule add pref 1000 lookup local
ip -n "$FAR" rule del pref 0
ip -n "$FAR" rule add pref 100 from 198.18.20.3 to 198.18.22.2 lookup local
ip -n "$FAR" rule add pref 101 to 198.18.22.2 blackhole

# The simulated devices, bound to far's device addresses.
ip netns exec "$FAR" "$REACHD" sim --base 198.18.21.2 -n 1 --port 2222 --telnet-port 2323 \
  > "$WORK/sim21.log" 2>&1 &
PIDS+=($!)
ip netns exec "$FAR" "$REACHD" sim --base 198.18.22.2 -n 1 --port 2222 --telnet-port 2323 \
  > "$WORK/sim22.log" 2>&1 &
PIDS+=($!)
listening() { ip netns exec "$FAR" ss -Htln | grep -q "$1"; }
for l in 198.18.21.2:2222 198.18.21.2:2323 198.18.22.2:2222 198.18.22.2:2323; do
  wait_for 20 listening "$l" || { echo "setup: the simulator does not listen on $l" >&2; cat "$WORK"/sim*.log >&2; exit 1; }
done

chmod 755 "$WORK"
# config NAME SOURCE_LINES: a config of the four checks of both networks,
# SOURCE_LINES (YAML, indented 4) on every device.
config() {
  local f=$WORK/$1.yaml
  {
    cat <<'YAML'
defaults:
  icmp: {timeout: 1s, count: 2, spacing: 100ms}
  ssh: {port: 2222, host_key: "off", timeout: 3s, connect_timeout: 2s}
  telnet: {port: 2323, timeout: 3s, connect_timeout: 2s}
profiles:
  lab: {username: admin, password: admin}
devices:
YAML
    local d
    for d in vrf-icmp4:198.18.21.2:icmp vrf-icmp6:2001:2:1::2:icmp \
             vrf-ssh:198.18.21.2:ssh vrf-telnet:198.18.21.2:telnet \
             acl-icmp:198.18.22.2:icmp acl-ssh:198.18.22.2:ssh acl-telnet:198.18.22.2:telnet; do
      local name=${d%%:*} rest=${d#*:}
      local proto=${rest##*:} addr=${rest%:*}
      printf '  - name: %s\n    address: "%s"\n    profile: lab\n    checks: [%s]\n' \
        "$name" "$addr" "$proto"
      case $name in
        vrf-*) [ -z "$2" ] || printf '%s\n' "$2" ;;
        acl-*) [ -z "$3" ] || printf '%s\n' "$3" ;;
      esac
    done
  } > "$f"
  chmod 644 "$f"
  "$REACHD" validate --config "$f" > /dev/null
  echo "$f"
}
NONE=$(config none "" "")
WITH=$(config with "    source_interface: mgmt0" "    source_address: 198.18.20.3")

# run_check CONFIG OUT [as-nobody]: one round inside mon, JSON verdicts.
run_check() {
  local who=()
  [ "${3:-}" != as-nobody ] || who=("${NOBODY[@]}")
  ip netns exec "$MON" "${who[@]}" "$REACHD" check --config "$1" --format json \
    > "$2" 2> "$2.err" || true
}
# verdict OUT DEVICE PROTOCOL JQ_CONDITION WHAT
verdict() {
  # Slurped: `jq -e` judges by the last input, which may be another check.
  if jq -e -s --arg d "$2" --arg p "$3" \
      "[.[] | select(.device == \$d and .protocol == \$p)] | length == 1 and (.[0] | $4)" \
      "$1" > /dev/null 2>&1; then
    ok "$5: $(jq -c --arg d "$2" --arg p "$3" \
      'select(.device == $d and .protocol == $p) | {up, reason, phase, detail}' "$1")"
  else
    no "$5: got $(jq -c --arg d "$2" --arg p "$3" 'select(.device == $d and .protocol == $p)' "$1" 2>/dev/null) $(cat "$1.err")"
  fi
}
DOWN_NOROUTE='.up == false and .reason == "unreachable"'
UP='.up == true and .reason == "ok"'

stage "(a) management VRF: raw ICMP (root, ping_group_range empty), SSH, Telnet"
ip netns exec "$MON" sysctl -qw 'net.ipv4.ping_group_range=1 0'
run_check "$NONE" "$WORK/a-none.json"
verdict "$WORK/a-none.json" vrf-icmp4 icmp "$DOWN_NOROUTE" "no source_interface: icmp IPv4 has no route"
verdict "$WORK/a-none.json" vrf-icmp6 icmp "$DOWN_NOROUTE" "no source_interface: icmp IPv6 has no route"
verdict "$WORK/a-none.json" vrf-ssh ssh "$DOWN_NOROUTE and .phase == \"connect\"" "no source_interface: ssh has no route"
verdict "$WORK/a-none.json" vrf-telnet telnet "$DOWN_NOROUTE and .phase == \"connect\"" "no source_interface: telnet has no route"
run_check "$WITH" "$WORK/a-with.json"
verdict "$WORK/a-with.json" vrf-icmp4 icmp "$UP" "source_interface mgmt0: icmp IPv4 (raw) up"
verdict "$WORK/a-with.json" vrf-icmp6 icmp "$UP" "source_interface mgmt0: icmp IPv6 (raw) up"
verdict "$WORK/a-with.json" vrf-ssh ssh "$UP" "source_interface mgmt0: ssh up"
verdict "$WORK/a-with.json" vrf-telnet telnet "$UP" "source_interface mgmt0: telnet up"

stage "(a) management VRF: unprivileged ICMP as nobody (ping_group_range)"
ip netns exec "$MON" sysctl -qw 'net.ipv4.ping_group_range=0 2147483647'
run_check "$NONE" "$WORK/a-none-nobody.json" as-nobody
verdict "$WORK/a-none-nobody.json" vrf-icmp4 icmp "$DOWN_NOROUTE" "nobody, no source_interface: icmp IPv4 has no route"
run_check "$WITH" "$WORK/a-with-nobody.json" as-nobody
verdict "$WORK/a-with-nobody.json" vrf-icmp4 icmp "$UP" "nobody, source_interface mgmt0: icmp IPv4 (unprivileged) up"
verdict "$WORK/a-with-nobody.json" vrf-icmp6 icmp "$UP" "nobody, source_interface mgmt0: icmp IPv6 (unprivileged) up"
verdict "$WORK/a-with-nobody.json" vrf-ssh ssh "$UP" "nobody, source_interface mgmt0: ssh up"

stage "(b) ACL'd source address"
ip netns exec "$MON" sysctl -qw 'net.ipv4.ping_group_range=1 0'
verdict "$WORK/a-none.json" acl-icmp icmp '.up == false and .reason == "no_reply"' "default source (.1) dropped: icmp no_reply"
verdict "$WORK/a-none.json" acl-ssh ssh '.up == false and .reason == "timeout" and .phase == "connect"' "default source (.1) dropped: ssh connect timeout"
verdict "$WORK/a-none.json" acl-telnet telnet '.up == false and .reason == "timeout" and .phase == "connect"' "default source (.1) dropped: telnet connect timeout"
verdict "$WORK/a-with.json" acl-icmp icmp "$UP" "source_address 198.18.20.3: icmp up"
verdict "$WORK/a-with.json" acl-ssh ssh "$UP" "source_address 198.18.20.3: ssh up"
verdict "$WORK/a-with.json" acl-telnet telnet "$UP" "source_address 198.18.20.3: telnet up"
verdict "$WORK/a-with-nobody.json" acl-icmp icmp "$UP" "nobody, source_address 198.18.20.3: icmp (unprivileged) up"

stage "(c) a source this host cannot use is a startup error naming the device"
# expect_refused CONFIG_LINES TEXT WHAT
expect_refused() {
  local f=$WORK/bad.yaml
  printf 'devices:\n  - name: r9\n    address: 198.18.21.9\n%s\n' "$1" > "$f"
  chmod 644 "$f"
  local rc=0
  ip netns exec "$MON" "$REACHD" check --config "$f" > "$WORK/bad.out" 2> "$WORK/bad.err" || rc=$?
  if [ "$rc" -ne 0 ] && grep -qF -- "$2" "$WORK/bad.err" && ! grep -q '"device"' "$WORK/bad.out"; then
    ok "$3 (exit $rc): $(grep -F -- "$2" "$WORK/bad.err" | head -n1)"
  else
    no "$3: exit $rc, stderr: $(cat "$WORK/bad.err") stdout: $(cat "$WORK/bad.out")"
  fi
}
expect_refused "    source_interface: nosuch0" \
  "device r9 (icmp): source_interface nosuch0 does not exist on this host" \
  "an interface that does not exist"
expect_refused "    source_address: 198.18.21.9" \
  "device r9 (icmp): source_address 198.18.21.9 is not an address of this host" \
  "an address that is not this host's"

stage "(d) an interface that goes away at run time, and comes back (reachd run)"
# mgmt1: a second management link with its own table, and a device behind it.
mgmt1_up() {
  ip -n "$MON" link add mgmt1 type veth peer name farv1 netns "$FAR"
  ip -n "$MON" addr add 198.18.20.9/30 dev mgmt1
  ip -n "$FAR" addr add 198.18.20.10/30 dev farv1
  ip -n "$MON" link set mgmt1 up
  ip -n "$FAR" link set farv1 up
  ip -n "$MON" route add 198.18.23.0/24 via 198.18.20.10 dev mgmt1 table 101
}
mgmt1_up
ip -n "$MON" rule add oif mgmt1 table 101
ip -n "$FAR" addr add 198.18.23.2/32 dev lo
ip netns exec "$FAR" "$REACHD" sim --base 198.18.23.2 -n 1 --port 2222 --no-telnet \
  > "$WORK/sim23.log" 2>&1 &
PIDS+=($!)
wait_for 20 listening 198.18.23.2:2222 || { echo "setup: no simulator on 198.18.23.2" >&2; exit 1; }
PORT=$(free_port)
cat > "$WORK/run.yaml" <<YAML
listen: 127.0.0.1:$PORT
defaults:
  icmp: {interval: 1s, timeout: 800ms, count: 1}
  ssh: {interval: 1s, timeout: 900ms, connect_timeout: 500ms, port: 2222, host_key: "off"}
devices:
  - {name: gone-icmp, address: 198.18.23.2, source_interface: mgmt1}
  - {name: gone-ssh, address: 198.18.23.2, source_interface: mgmt1, checks: [ssh],
     username: admin, password: admin}
YAML
chmod 644 "$WORK/run.yaml"
ip netns exec "$MON" "$REACHD" run --config "$WORK/run.yaml" > "$WORK/run.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
get() { ip netns exec "$MON" curl -sf --max-time 5 "http://127.0.0.1:$PORT/$1"; }
# all_rows COND: every row of /api/v1/status meets the jq condition.
all_rows() {
  get api/v1/status > "$WORK/status.json" 2>/dev/null &&
    jq -e "(.status | length) == 2 and all(.status[]; $1)" "$WORK/status.json" > /dev/null
}
rows() { jq -c '.status[] | {device, protocol, up, reason, detail}' "$WORK/status.json" 2>/dev/null; }
if wait_for 20 all_rows '.up'; then
  ok "both checks up through mgmt1"
else
  no "both checks up through mgmt1: $(rows) $(tail -n 5 "$WORK/run.log")"
fi
if get metrics > "$WORK/metrics.txt" &&
    grep -qx 'reachd_source_info{device="gone-icmp",protocol="icmp",source_address="",source_interface="mgmt1"} 1' "$WORK/metrics.txt"; then
  ok "reachd_source_info names the source: $(grep -c '^reachd_source_info{' "$WORK/metrics.txt") series"
else
  no "reachd_source_info: $(grep reachd_source_info "$WORK/metrics.txt")"
fi
ip -n "$MON" link del mgmt1
if wait_for 20 all_rows '(.up | not) and .reason == "unreachable" and (.detail | startswith("source interface mgmt1 is gone"))'; then
  ok "mgmt1 deleted: both checks unreachable, saying so"
  rows | sed 's/^/     /'
else
  no "mgmt1 deleted: $(rows)"
fi
mgmt1_up
if wait_for 20 all_rows '.up'; then
  ok "mgmt1 re-created (a new index): both checks up again"
else
  no "mgmt1 re-created: $(rows)"
fi
# A reload naming an interface that does not exist is refused, naming the
# device; the running configuration goes on.
sed -i 's/source_interface: mgmt1}/source_interface: nosuch1}/' "$WORK/run.yaml"
kill -HUP "$RPID"
refused() { grep -q 'device gone-icmp (icmp): source_interface nosuch1 does not exist on this host' "$WORK/run.log"; }
if wait_for 20 refused && sleep 2 && all_rows '.up'; then
  ok "a reload naming a missing interface is refused, the old configuration keeps running: $(grep -o 'reload failed[^"]*' "$WORK/run.log" | head -n1)"
else
  no "reload with a missing interface: $(tail -n 5 "$WORK/run.log") $(rows)"
fi
kill "$RPID" 2>/dev/null || true
wait "$RPID" 2>/dev/null || true

stage "(e) a real VRF device"
netns "$VRFNS"
if ip -n "$VRFNS" link add vrf-mgmt type vrf table 10 2> "$WORK/vrf.err"; then
  echo "SKIP (e): this kernel has the VRF driver, but the vrf-mgmt case is not written yet (issue 14)"
else
  echo "SKIP (e): this kernel has no VRF driver ($(tr -d '\n' < "$WORK/vrf.err")): the vrf-mgmt case cannot run here; (a) builds the same effect with ip rule oif"
fi

summary
