#!/usr/bin/env bash
# End to end alerting on devices with parents, with the real programs: reachd
# checks five simulated devices (`reachd sim`, one process each so each can
# be stopped alone) over SSH and Telnet only (loopback always answers ping):
# a parent P, its children C1..C3 (`parents: [P]`) and R, which has no
# parents. A real Prometheus evaluates the shipped rules (every `for:` at
# $FOR) and a real Alertmanager routes to a webhook receiver (severity info
# to the receiver `chat`, as dashboards/README.md suggests; the rest to
# `hook`, the pager).
#   1. The race: the children's simulators stop first, R's with them (the
#      control: a device without parents pages), P's a few seconds later,
#      once the children's alerts are pending. Each child is found down while
#      P still answers reachd's re-check: its `down` log line has no `behind`
#      and its alerts go pending. P's own check finds it down within the
#      children's `for:`, their reachd_parent_down turns 1 and drops them.
#      Pages: P and R (ReachdDeviceUnreachable, ReachdTargetDown: no
#      inhibit rules here), nothing naming C1..C3; the summary
#      ReachdDevicesBehindParent (3 devices) to `chat`.
#   2. Everything restarts: every alert resolves, still nothing for C1..C3.
# Loopback only.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
source "$(dirname "${BASH_SOURCE[0]}")/lib/alerting.bash"
need_reachd
RPORT=$(free_port) SSHPORT=$(free_port) TELPORT=$(free_port)
# Longer than a check interval (2s) + a scrape + an evaluation, with room
# for the few seconds between the children and P.
FOR=15s
CHILDREN=(C1 C2 C3)
declare -A ADDR=([P]=127.0.7.1 [C1]=127.0.7.11 [C2]=127.0.7.12 [C3]=127.0.7.13 [R]=127.0.7.21)
declare -A SIM=()
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

stage "lab: five simulators, reachd, Prometheus, Alertmanager"
start_sim() { # DEVICE: its simulator, SSH and Telnet on its own address
  "$REACHD" sim -n 1 --base "${ADDR[$1]}" --port "$SSHPORT" --telnet-port "$TELPORT" \
    >> "$WORK/sim-$1.log" 2>&1 &
  SIM[$1]=$!
  PIDS+=("$!")
}
stop_sim() { kill "${SIM[$1]}"; wait "${SIM[$1]}" 2>/dev/null || true; }
for d in P "${CHILDREN[@]}" R; do start_sim "$d"; done

cat > "$WORK/reachd.yaml" <<YAML
listen: 127.0.0.1:$RPORT
log: {format: json}
defaults:
  ssh: {interval: 2s, timeout: 2s, connect_timeout: 1s, read_timeout: 1s}
  telnet: {interval: 2s, timeout: 2s, connect_timeout: 1s, read_timeout: 1s}
profiles:
  sim:
    checks: [ssh, telnet]
    platform: cisco_iosxe
    username: admin
    password: admin
    secondary: cisco
    ssh: {port: $SSHPORT, host_key: "off"}
    telnet: {port: $TELPORT}
devices:
  - {name: P, address: ${ADDR[P]}, profile: sim, labels: {site: lab, role: core}}
  - {name: C1, address: ${ADDR[C1]}, profile: sim, parents: [P], labels: {site: lab, role: access}}
  - {name: C2, address: ${ADDR[C2]}, profile: sim, parents: [P], labels: {site: lab, role: access}}
  - {name: C3, address: ${ADDR[C3]}, profile: sim, parents: [P], labels: {site: lab, role: access}}
  - {name: R, address: ${ADDR[R]}, profile: sim, labels: {site: lab, role: edge}}
YAML
"$REACHD" run --config "$WORK/reachd.yaml" 2> "$WORK/reachd.log" &
PIDS+=("$!")

start_webhook
# group_wait 6s: P's two ReachdTargetDown alerts (SSH and Telnet, found down
# at most one interval apart) usually make one notification; when the second
# one fires later, Alertmanager sends the group again with both (an update
# of the same page), so notifications are compared per group below.
start_alertmanager 6s "  routes: [{matchers: [severity = info], receiver: chat}]"
start_rules_prometheus "$RPORT" "$FOR"
check "Prometheus sees every check up (5 devices, ssh and telnet)" wait_for 40 query_is 'sum(reachd_up)' 10
check "reachd_parent_down is 0 for C1..C3" wait_for 10 query_is 'count(reachd_parent_down{device=~"C[123]"} == 0)' 3
check "no reachd_parent_down for P and R (no parents)" query_is 'count(reachd_parent_down{device=~"P|R"}) or vector(0)' 0
check "Alertmanager is ready" wait_for 20 curl -sf "http://127.0.0.1:$APORT/-/ready"

stage "the race: the children (and R) stop, P a few seconds later"
t0=$(now)
for d in "${CHILDREN[@]}" R; do stop_sim "$d"; done
children_pending() {
  query_is 'count(ALERTS{alertname="ReachdDeviceUnreachable", alertstate="pending", device=~"C[123]"})' 3
}
check "the children's ReachdDeviceUnreachable go pending (P still up, not behind it)" \
  wait_for 30 children_pending
t_pending=$(now)
sleep 1
stop_sim P
t1=$(now)
echo "     children and R stopped, pending after $(since "$t0" "$t_pending") s, P stopped after $(since "$t0" "$t1") s (for: $FOR)"
check "P is found down: reachd_parent_down 1 for C1..C3" \
  wait_for 20 query_is 'count(reachd_parent_down{device=~"C[123]"} == 1)' 3
t_behind=$(now)
echo "     children behind P $(since "$t0" "$t_behind") s after they stopped"
check "the children's pending alerts are dropped" \
  wait_for 5 query_is 'count(ALERTS{device=~"C[123]"}) or vector(0)' 0
check "every check of the 5 devices is down with reason refused" \
  wait_for 10 query_is 'count(reachd_reason{reason="refused"})' 10
curl -sf "http://127.0.0.1:$RPORT/api/v1/status" > "$WORK/status.json"
check_out "reachd's status: C1..C3 behind P, P and R behind nothing" jq -e '
  [.. | objects | select(has("device") and has("behind")) | {(.device): .behind}] | add
  | (.C1 == "P" and .C2 == "P" and .C3 == "P" and has("P") and .P == null and has("R") and .R == null)
    or error(tostring)' \
  "$WORK/status.json"

stage "the pages (for: $FOR), then quiet for another $FOR"
got() { # RECEIVER STATUS ALERTNAME DEVICE: that notification has arrived
  notifications | grep -qxF "$*"
}
check "P pages: ReachdDeviceUnreachable" wait_for 40 got hook firing ReachdDeviceUnreachable P
check "P pages: ReachdTargetDown" wait_for 10 got hook firing ReachdTargetDown P
check "control, R without parents: ReachdDeviceUnreachable" wait_for 10 got hook firing ReachdDeviceUnreachable R
check "control, R without parents: ReachdTargetDown" wait_for 10 got hook firing ReachdTargetDown R
check "ReachdDevicesBehindParent reaches chat" wait_for 10 got chat firing ReachdDevicesBehindParent -
t_paged=$(now)
echo "     pages $(since "$t0" "$t_paged") s after the children stopped"
sleep "${FOR%s}"
sleep 5
jq -c 'select(.groupLabels.alertname == "ReachdDevicesBehindParent") | .alerts[0]' "$ALERTS" | head -1 > "$WORK/summary.json"
check_out "the summary: 3 devices behind, 3 down themselves, roots P and R, severity info" jq -e '
  (.labels.severity == "info"
   and .annotations.summary == "reachd 127.0.0.1:'"$RPORT"': 3 devices are behind a down parent"
   and (.annotations.description | test("\\(3 of them down themselves\\)") and test("the roots among them: P, R\\.")))
  or error(tostring)' "$WORK/summary.json"
check_out "P's ReachdTargetDown names ssh and telnet, reason refused" jq -se '
  [.[] | select(.groupLabels == {alertname: "ReachdTargetDown", device: "P"}) | .alerts[]
   | select(.status == "firing") | "\(.labels.protocol) \(.annotations.summary)"] | unique
  | (. == ["ssh P is down on ssh: refused", "telnet P is down on telnet: refused"]) or error(tostring)' "$ALERTS"
check "no child's alert ever fired in Prometheus" \
  query_is 'count(max_over_time(ALERTS{alertstate="firing", device=~"C[123]"}[5m])) or vector(0)' 0
check "but each child's alert was pending (the race was real)" \
  query_is 'count(max_over_time(ALERTS{alertname="ReachdDeviceUnreachable", alertstate="pending", device=~"C[123]"}[5m]))' 3

stage "restore: every simulator restarts, every alert resolves"
for d in P "${CHILDREN[@]}" R; do start_sim "$d"; done
check "Prometheus sees every check up again" wait_for 30 query_is 'sum(reachd_up)' 10
check "reachd_parent_down is 0 again" wait_for 10 query_is 'sum(reachd_parent_down)' 0
for n in "ReachdDeviceUnreachable P" "ReachdTargetDown P" "ReachdDeviceUnreachable R" "ReachdTargetDown R"; do
  # shellcheck disable=SC2086 # two words on purpose
  check "resolved: $n" wait_for 30 got hook resolved $n
done
check "resolved: ReachdDevicesBehindParent (chat)" wait_for 30 got chat resolved ReachdDevicesBehindParent -
sleep 5

stage "the notifications and reachd's log"
notifications | sort | uniq -c | sed 's/^/     /'
echo "     expected: one each of firing and resolved for ReachdDeviceUnreachable and ReachdTargetDown of P and R (hook) and ReachdDevicesBehindParent (chat)"
# A parent's out-of-schedule re-check stands in for its scheduled run
# falling due meanwhile: no skip is counted, so ReachdChecksSkipped (one skip
# fires it with `for:` shortened to $FOR) must not appear either.
curl -sf "http://127.0.0.1:$RPORT/metrics" | awk '/^reachd_checks_skipped_total/ { print "     " $0 }'
# Per group and status: a group sent again with one more alert is the same
# page (see group_wait above).
notifications | sort -u | sed 's/^/1 /' > "$WORK/counts"
cat > "$WORK/expected" <<'EOF'
1 chat firing ReachdDevicesBehindParent -
1 chat resolved ReachdDevicesBehindParent -
1 hook firing ReachdDeviceUnreachable P
1 hook firing ReachdDeviceUnreachable R
1 hook firing ReachdTargetDown P
1 hook firing ReachdTargetDown R
1 hook resolved ReachdDeviceUnreachable P
1 hook resolved ReachdDeviceUnreachable R
1 hook resolved ReachdTargetDown P
1 hook resolved ReachdTargetDown R
EOF
check_out "exactly those notifications, nothing else" diff "$WORK/expected" "$WORK/counts"
check_out "no notification names C1, C2 or C3" jq -se '
  [.[].alerts[] | select(.labels.device // "" | test("^C[123]$"))] | length == 0 or error(tostring)' "$ALERTS"

# The log: one JSON object a line; the fields at the top or under `fields`.
jq -c 'select(((.fields.message // .message) == "down")) | (.fields // .) + {ts: .timestamp}
  | {ts, device, protocol, reason, was, behind}' "$WORK/reachd.log" > "$WORK/down.jsonl" 2>/dev/null || true
sed 's/^/     /' "$WORK/down.jsonl"
check_out "each child's first down line per protocol: was up, no behind (P answered the re-check), before P's" jq -se '
  (map(select(.device == "P")) | map(.ts) | min) as $p
  | [group_by(.device + " " + .protocol)[] | .[0] | select(.device | test("^C[123]$"))]
  | (length == 6 and all(.was == "up" and .behind == null and .ts < $p)) or error(tostring)' "$WORK/down.jsonl"
check_out "P and R logged down, behind nothing" jq -se '
  [.[] | select(.device == "P" or .device == "R")]
  | ((map(.device + " " + .protocol) | unique) == ["P ssh", "P telnet", "R ssh", "R telnet"]
     and all(.behind == null)) or error(tostring)' "$WORK/down.jsonl"
rechecks=$(curl -sf "http://127.0.0.1:$RPORT/metrics" | awk '$1 == "reachd_parent_rechecks_total" { print $2 }')
echo "     reachd_parent_rechecks_total: $rechecks"
check "the children's failures re-checked P (reachd_parent_rechecks_total > 0)" test "${rechecks:-0}" -gt 0

summary
