#!/usr/bin/env bash
# Device dependencies (`parents:`) over real routed ICMP, root only.
#
# A chain of network namespaces this script creates (and deletes on every
# exit), each pair joined by a veth, addresses from 198.18.0.0/15 only
# (benchmarking, RFC 2544), used only inside those namespaces; no name is
# resolved, nothing reaches the host's own interfaces:
#
#   mon 198.18.10.1 ── .2 r1 .5 ── .6 r2 .9  ── .10 d1
#                                        .13 ── .14 d2
#
# r1 and r2 forward (net.ipv4.ip_forward=1 inside them). reachd runs in mon
# and pings r1, r2 (their addresses facing mon), d1 and d2 every second;
# parents: d1, d2 → r2 → r1. Its HTTP listener is mon's loopback, curled
# from inside mon.
#
# A "cut" of a router is two sysctls inside its namespace: it stops answering
# echo requests (icmp_echo_ignore_all=1) and stops forwarding (ip_forward=0,
# so packets for the devices behind it are dropped silently: the kernel sends
# no ICMP error from an interface that does not forward). So everything at
# and behind the router stops answering while everything before it still
# does, on a raw socket as on an unprivileged one, and no package (nft,
# iptables) is needed.
#
#   1. all up: every row up, `behind` null; reachd_parent_down 0 for r2, d1,
#      d2 and absent for r1 (it has no parents);
#   2. r2 cut: r2, d1, d2 down (no_reply or timeout), d1 and d2 behind r2,
#      r2 behind nothing (r1 answers); reachd_parent_down 1 for d1, d2, 0 for
#      r2; the `down` log lines of d1 and d2 already say "behind":"r2" (the
#      parents were re-checked before the change was recorded); the re-checks
#      are two at most (r2, then r1), not one per child. check_path: the path
#      diagnosis of d1;
#   3. restored: all up, `behind` null, reachd_parent_down 0;
#   4. r1 cut too: all four down, r2, d1 and d2 behind r1 (the topmost down
#      ancestor), in the API, the metric and the log lines. Restored.
# The whole sequence runs twice: reachd as nobody on an unprivileged ICMP
# socket (ping_group_range inside mon), then as root on a raw socket.
#
# Usage: sudo REACHD=target/debug/reachd tests/interop/parents.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
if [[ $EUID -ne 0 ]]; then
  echo "SKIP: tests/interop/parents.sh needs root (network namespaces)" >&2
  exit 77
fi
need ip setpriv curl jq python3 fping
need_reachd

# --- namespaces ---
PFX="rdpar$$"
MON=${PFX}mon R1=${PFX}r1 R2=${PFX}r2 D1=${PFX}d1 D2=${PFX}d2
ns_cleanup() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PFX}" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
}
# reachd (in PIDS) first, then the namespaces.
trap 'cleanup; ns_cleanup' EXIT
trap 'exit 130' INT TERM HUP

T0=$SECONDS STAGE="" STAGE_T0=$SECONDS
stage() {
  [ -z "$STAGE" ] || echo "--- $STAGE: $((SECONDS - STAGE_T0)) s"
  STAGE=$* STAGE_T0=$SECONDS
  [ -z "$STAGE" ] || printf '\n=== %s\n' "$STAGE"
}

netns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
}
# link A IFA ADDR_A B IFB ADDR_B: a veth pair made inside A, its peer moved
# straight into B (never in the host's namespace), /30 addresses.
link() {
  ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3/30" dev "$2"
  ip -n "$4" addr add "$6/30" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}
sysctl_in() { ip netns exec "$1" sysctl -qw "$2"; }

stage "namespaces: mon → r1 → r2 → {d1, d2}"
for ns in "$MON" "$R1" "$R2" "$D1" "$D2"; do netns "$ns"; done
link "$MON" to-r1 198.18.10.1 "$R1" to-mon 198.18.10.2
link "$R1" to-r2 198.18.10.5 "$R2" to-r1 198.18.10.6
link "$R2" to-d1 198.18.10.9 "$D1" to-r2 198.18.10.10
link "$R2" to-d2 198.18.10.13 "$D2" to-r2 198.18.10.14
ip -n "$MON" route add default via 198.18.10.2
ip -n "$R1" route add 198.18.10.8/29 via 198.18.10.6
ip -n "$R2" route add default via 198.18.10.5
ip -n "$D1" route add default via 198.18.10.9
ip -n "$D2" route add default via 198.18.10.13
for ns in "$R1" "$R2"; do sysctl_in "$ns" net.ipv4.ip_forward=1; done
R1_ADDR=198.18.10.2
for a in 198.18.10.2 198.18.10.6 198.18.10.10 198.18.10.14; do
  if ! wait_for 10 ip netns exec "$MON" fping -q -r 0 -t 500 "$a"; then
    echo "setup: $a does not answer from mon" >&2; exit 1
  fi
done

# cut NS / restore NS: the router stops (starts) answering and forwarding.
# Answering stops first, so a child that fails finds its parent silent.
cut() { sysctl_in "$1" net.ipv4.icmp_echo_ignore_all=1; sysctl_in "$1" net.ipv4.ip_forward=0; }
restore() { sysctl_in "$1" net.ipv4.ip_forward=1; sysctl_in "$1" net.ipv4.icmp_echo_ignore_all=0; }

# --- reachd ---
# count 1: a check that is up ends at its reply. (With count 2, a parent's
# check whose first request was answered just before a cut ends up 1/2 at
# its timeout, after the child's failing check began: the gate takes that as
# fresh, does not re-check the parent, and the child's down line has no
# behind. Seen with children on other intervals than their parent.)
PORT=$(free_port)
chmod 755 "$WORK"
cat > "$WORK/reachd.yaml" <<YAML
listen: 127.0.0.1:$PORT
log: {format: json}
defaults:
  icmp: {interval: 1s, timeout: 800ms, count: 1}
devices:
  - {name: r1, address: 198.18.10.2}
  - {name: r2, address: 198.18.10.6, parents: [r1]}
  - {name: d1, address: 198.18.10.10, parents: [r2]}
  - {name: d2, address: 198.18.10.14, parents: [r2]}
YAML
chmod 644 "$WORK/reachd.yaml"
"$REACHD" validate --config "$WORK/reachd.yaml" > /dev/null

RPID="" LOG=""
# start_reachd MODE LOGFILE [COMMAND PREFIX…]: reachd inside mon.
start_reachd() {
  LOG=$1; shift
  ip netns exec "$MON" "$@" "$REACHD" run --config "$WORK/reachd.yaml" \
    --log-format json > "$LOG" 2>&1 &
  RPID=$!; PIDS+=("$RPID")
}
stop_reachd() {
  kill "$RPID" 2>/dev/null || true
  wait "$RPID" 2>/dev/null || true
}

# --- reading reachd, from inside mon; none of these fail under set -e ---
get() { ip netns exec "$MON" curl -sf --max-time 5 "http://127.0.0.1:$PORT/$1"; }
status() { get api/v1/status > "$WORK/status.json" 2>/dev/null || : > "$WORK/status.json"; }
# metric NAME [DEVICE]: its value, or nothing.
metric() {
  local sel="^$1 "
  [ $# -lt 2 ] || sel="^$1\\{([^}]*,)?device=\"$2\"[,}]"
  { get metrics | grep -E "$sel" | awk '{print $NF}' | head -1; } 2>/dev/null || true
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
# row DEVICE JQ_CONDITION: the device's icmp row (fresh) meets it; on
# failure the row is printed (for check_out).
row() {
  status
  jq -e --arg d "$1" "[.status[] | select(.device == \$d and .protocol == \"icmp\")]
    | if length == 1 then .[0] | ($2) or error(\"row: \" + tojson) else error(\"rows: \" + tojson) end" \
    "$WORK/status.json"
}
# rows_are JQ_CONDITION DEVICE...: every one's row meets it (for wait_for).
rows_are() {
  local cond=$1 d; shift
  status
  for d in "$@"; do
    jq -e --arg d "$d" "[.status[] | select(.device == \$d and .protocol == \"icmp\")]
      | length == 1 and (.[0] | $cond)" "$WORK/status.json" > /dev/null || return 1
  done
}
show_status() {
  status
  jq -c '.status[] | {device, protocol, up, reason, behind}' "$WORK/status.json" 2>/dev/null | sed 's/^/     /' || true
}
# down_lines DEVICE FROM_BYTE: the JSON `down` log lines of DEVICE written
# after FROM_BYTE, one compact object per line (fields merged in).
down_lines() {
  tail -c +"$(($2 + 1))" "$LOG" | jq -c --arg d "$1" \
    'select(type == "object") | (. + (.fields // {})) | select(.message == "down" and .device == $d)' 2>/dev/null || true
}
has_down_line() { [ -n "$(down_lines "$1" "$2")" ]; }
# log_behind DEVICE FROM_BYTE NAME: its first down line since FROM_BYTE says
# behind NAME (printed otherwise).
log_behind() {
  local line
  line=$(down_lines "$1" "$2" | head -1)
  if [ "$(jq -r '.behind // "null"' <<< "$line")" = "$3" ]; then return 0; fi
  echo "first down line: ${line:-none}"
  return 1
}
log_size() { stat -c %s "$LOG"; }

UP='.up == true and .behind == null'

# check_path: the path diagnosis of d1 once r2 is cut (being built: reachd
# traces the path of an ICMP check that goes from up to down). The last hop
# that answers is r1's address facing mon; nothing answers after it.
check_path() {
  wait_for 15 row d1 '.path != null' || true
  check_out "path: d1's icmp row has a .path containing r1's address ($R1_ADDR)" \
    row d1 "(.path | type) == \"array\" and (.path | index(\"$R1_ADDR\")) != null"
  check_out "path: d1's last hop that answers is r1 ($R1_ADDR)" \
    row d1 "(.path | type) == \"array\" and ([.path[] | select(. != null)] | last) == \"$R1_ADDR\""
  check "path: reachd_path_hops_answered{device=\"d1\"} = 1 (got '$(metric reachd_path_hops_answered d1)')" \
    metric_is reachd_path_hops_answered d1 1
}

# sequence NAME: steps 1 to 4 on the reachd just started.
sequence() {
  local n=$1 off before after

  stage "$n 1. all up"
  if ! check "$n: reachd serves /api/v1/status with all 4 rows up" \
      wait_for 30 rows_are "$UP" r1 r2 d1 d2; then
    show_status; tail -20 "$LOG" | sed 's/^/     /'
  fi
  for d in r1 r2 d1 d2; do
    check_out "$n: $d up, behind null" row "$d" "$UP"
  done
  for d in r2 d1 d2; do
    check "$n: reachd_parent_down{device=\"$d\"} 0" wait_for 10 metric_is reachd_parent_down "$d" 0
  done
  check "$n: no reachd_parent_down for r1 (no parents)" test -z "$(metric reachd_parent_down r1)"
  check "$n: no down line in the log yet" test -z "$(down_lines d1 0)$(down_lines d2 0)$(down_lines r2 0)"

  stage "$n 2. r2 cut: r2, d1, d2 stop answering, r1 answers"
  before=$(metric reachd_parent_rechecks_total) off=$(log_size)
  echo "     reachd_parent_rechecks_total before: ${before:-none}"
  cut "$R2"
  if ! check "$n: r2, d1, d2 down" wait_for 30 rows_are '.up == false' r2 d1 d2; then show_status; fi
  for d in r2 d1 d2; do
    check_out "$n: $d down with reason no_reply or timeout" \
      row "$d" '.up == false and (.reason == "no_reply" or .reason == "timeout")'
  done
  check_out "$n: r1 still up" row r1 "$UP"
  check_out "$n: d1 behind r2" row d1 '.behind == "r2"'
  check_out "$n: d2 behind r2" row d2 '.behind == "r2"'
  check_out "$n: r2 behind null (r1 answers)" row r2 '.behind == null'
  check "$n: reachd_parent_down{device=\"d1\"} 1" wait_for 5 metric_is reachd_parent_down d1 1
  check "$n: reachd_parent_down{device=\"d2\"} 1" wait_for 5 metric_is reachd_parent_down d2 1
  check "$n: reachd_parent_down{device=\"r2\"} 0" metric_is reachd_parent_down r2 0
  for d in d1 d2; do
    check "$n: the log has a down line for $d" wait_for 10 has_down_line "$d" "$off"
    check_out "$n: $d's down line already says \"behind\":\"r2\"" log_behind "$d" "$off" r2
  done
  check_out "$n: r2's down line says no behind" log_behind r2 "$off" null
  after=$(metric reachd_parent_rechecks_total)
  echo "     reachd_parent_rechecks_total after: ${after:-none}"
  # 0 when the parents' own scheduled checks found them (r2 down, r1 up)
  # recently enough; 2 when d1's failure re-checked r2, whose failure
  # re-checked r1. Never one per child.
  check "$n: reachd_parent_rechecks_total rose by 2 at most, not one per child (${before:-?} → ${after:-?})" \
    test -n "$after" -a "$(( ${after:-0} - ${before:-0} ))" -le 2
  check_path

  stage "$n 3. r2 restored"
  restore "$R2"
  if ! check "$n: all 4 up again, behind null" wait_for 30 rows_are "$UP" r1 r2 d1 d2; then show_status; fi
  for d in r2 d1 d2; do
    check "$n: reachd_parent_down{device=\"$d\"} 0" wait_for 10 metric_is reachd_parent_down "$d" 0
  done

  stage "$n 4. r1 cut too: all down, behind the topmost, r1"
  before=$(metric reachd_parent_rechecks_total) off=$(log_size)
  cut "$R1"
  cut "$R2"
  if ! check "$n: r1, r2, d1, d2 down" wait_for 30 rows_are '.up == false' r1 r2 d1 d2; then show_status; fi
  check_out "$n: r1 behind null (no parents)" row r1 '.behind == null'
  for d in r2 d1 d2; do
    check_out "$n: $d behind r1" row "$d" '.behind == "r1"'
    check "$n: reachd_parent_down{device=\"$d\"} 1" wait_for 5 metric_is reachd_parent_down "$d" 1
    check "$n: the log has a down line for $d" wait_for 10 has_down_line "$d" "$off"
    check_out "$n: $d's down line already says \"behind\":\"r1\"" log_behind "$d" "$off" r1
  done
  after=$(metric reachd_parent_rechecks_total)
  echo "     reachd_parent_rechecks_total: ${before:-none} → ${after:-none}"
  check "$n: reachd_parent_rechecks_total rose by 2 at most" \
    test -n "$after" -a "$(( ${after:-0} - ${before:-0} ))" -le 2
  restore "$R1"
  restore "$R2"
  if ! check "$n: all 4 up again, behind null" wait_for 30 rows_are "$UP" r1 r2 d1 d2; then show_status; fi
  for d in r2 d1 d2; do
    check "$n: reachd_parent_down{device=\"$d\"} 0" wait_for 10 metric_is reachd_parent_down "$d" 0
  done
}

# --- run 1: unprivileged, as nobody ---
stage "unprivileged: reachd as nobody, ping_group_range inside mon"
sysctl_in "$MON" 'net.ipv4.ping_group_range=0 2147483647'
start_reachd "$WORK/unprivileged.log" setpriv --reuid=65534 --regid=65534 --clear-groups --
icmp_mode() { grep -q "\"mode\":\"$1\"" "$LOG" && grep -q 'ICMP sockets open' "$LOG"; }
if ! check "unprivileged: the log says ICMP sockets open, mode unprivileged" wait_for 20 icmp_mode unprivileged; then
  sed 's/^/     /' "$LOG" | tail -20
fi
check "unprivileged: reachd runs as nobody" test "$(stat -c %u "/proc/$RPID")" = 65534
sequence unprivileged
stop_reachd

# --- run 2: root, raw socket ---
stage "raw: reachd as root, no ping_group_range inside mon"
sysctl_in "$MON" 'net.ipv4.ping_group_range=1 0'
start_reachd "$WORK/raw.log"
if ! check "raw: the log says ICMP sockets open, mode raw" wait_for 20 icmp_mode raw; then
  sed 's/^/     /' "$LOG" | tail -20
fi
sequence raw
stop_reachd

stage ""
echo "--- in all: $((SECONDS - T0)) s"
summary
