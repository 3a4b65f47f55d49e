#!/usr/bin/env bash
# End to end alerting with the real programs: reachd monitors a loopback ICMP
# device and a simulated Cisco-like device (`reachd sim`: ICMP, SSH and
# Telnet); a real Prometheus scrapes it and evaluates the shipped rules
# (dashboards/reachd.rules.yml, with `for:` shortened so the test takes
# seconds); a real Alertmanager routes to a webhook receiver this script runs.
#   1. The simulator is stopped: SSH and Telnet are refused while ping still
#      answers, so ReachdTargetDown and ReachdManagementPlaneDown fire for R1
#      (reason `refused`) and ReachdDeviceUnreachable does not. Restarted, the
#      alerts resolve.
#   2. lab2 is made unreachable (a reload points it at a name that cannot
#      resolve): ReachdTargetDown and ReachdDeviceUnreachable fire, with the
#      inventory's site and role, reason and phase. Loopback only.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
source "$(dirname "${BASH_SOURCE[0]}")/lib/alerting.bash"
need_reachd
RPORT=$(free_port)
SSHPORT=$(free_port) TELPORT=$(free_port)

# The simulated lab: one device, R1, on 127.0.6.1, checked over ICMP too.
SIM_PID=
start_sim() {
  "$REACHD" sim -n 1 --base 127.0.6.1 --port "$SSHPORT" --telnet-port "$TELPORT" \
    --inventory-out "$WORK/sim.raw.yaml" > "$WORK/sim.log" 2>&1 &
  SIM_PID=$!
  PIDS+=("$SIM_PID")
  wait_for 20 test -s "$WORK/sim.raw.yaml"
}
start_sim
sed 's/checks: \[ssh, telnet\]/checks: [icmp, ssh, telnet]/' "$WORK/sim.raw.yaml" > "$WORK/sim.yaml"

write_config() { # $1: address of lab2
  cat > "$WORK/reachd.yaml" <<YAML
listen: 127.0.0.1:$RPORT
log: {format: json}
defaults:
  icmp: {interval: 1s, timeout: 900ms, count: 1}
  ssh: {interval: 3s, timeout: 3s, connect_timeout: 1s, read_timeout: 2s}
  telnet: {interval: 3s, timeout: 3s, connect_timeout: 1s, read_timeout: 2s}
inventory: [sim.yaml]
devices:
  - {name: lab1, address: 127.0.0.1, labels: {site: fra1, role: core}}
  - {name: lab2, address: $1, labels: {site: fra1, role: edge}}
YAML
}
write_config 127.0.0.2
"$REACHD" run --config "$WORK/reachd.yaml" 2> "$WORK/reachd.log" &
RPID=$!; PIDS+=("$RPID")

# The webhook receiver, Alertmanager and Prometheus (lib/alerting.bash). The
# shipped rules get every `for:` at 6s: longer than one SSH/Telnet interval
# (3s) plus a scrape, so an alert fires only once a check that started after
# the fault has reported. (With 2s, a check cut off by the simulator's stop,
# `closed`, could name the first notification's reason.)
start_webhook
start_alertmanager
start_rules_prometheus "$RPORT" 6s
check "Prometheus sees every check up (lab1, lab2, R1 icmp/ssh/telnet)" wait_for 40 query_is 'sum(reachd_up)' 5
check "Alertmanager is ready" wait_for 20 curl -sf "http://127.0.0.1:$APORT/-/ready"
sleep 3
check "no device alert while everything answers" bash -c "! grep -q '\"device\":\"' '$ALERTS' 2>/dev/null"

# 1. The simulator stops: R1's SSH and Telnet are refused, its ping answers.
kill "$SIM_PID"
r1_firing() { [ -n "$(jq -c --arg a "$1" --arg p "$2" '.alerts[] | select(.labels.alertname == $a and .labels.device == "R1" and .labels.protocol == $p and .status == "firing")' "$ALERTS" 2>/dev/null)" ]; }
check "ReachdTargetDown for R1 ssh reaches the webhook" wait_for 60 r1_firing ReachdTargetDown ssh
check "ReachdTargetDown for R1 telnet reaches the webhook" wait_for 30 r1_firing ReachdTargetDown telnet
check "ReachdManagementPlaneDown for R1 (ssh down, ping up)" wait_for 30 r1_firing ReachdManagementPlaneDown ssh
jq -c '.alerts[] | select(.labels.alertname == "ReachdTargetDown" and .labels.device == "R1" and .labels.protocol == "ssh")' "$ALERTS" | head -1 > "$WORK/r1.json"
check_out "R1's alert says reason refused in phase connect" \
  jq -e '.annotations.description | (test("reason refused") and test("phase connect")) or error(.)' "$WORK/r1.json"
check "no ReachdDeviceUnreachable for R1: its ping still answers" \
  bash -c "! jq -e '.alerts[] | select(.labels.alertname == \"ReachdDeviceUnreachable\" and .labels.device == \"R1\")' '$ALERTS' >/dev/null"
start_sim
r1_resolved() { [ -n "$(jq -c '.alerts[] | select(.labels.alertname == "ReachdTargetDown" and .labels.device == "R1" and .labels.protocol == "ssh" and .status == "resolved")' "$ALERTS" 2>/dev/null)" ]; }
check "R1's alert resolves when the simulator is back" wait_for 90 r1_resolved

# 2. lab2 becomes unreachable.

# lab2 fails.
write_config lab2.invalid
kill -HUP "$RPID"
firing() { [ -n "$(jq -c --arg a "$1" '.alerts[] | select(.labels.alertname == $a and .labels.device == "lab2" and .status == "firing")' "$ALERTS" 2>/dev/null)" ]; }
check "ReachdTargetDown for lab2 reaches the webhook" wait_for 60 firing ReachdTargetDown
check "ReachdDeviceUnreachable for lab2 reaches the webhook" wait_for 30 firing ReachdDeviceUnreachable
jq -c '.alerts[] | select(.labels.alertname == "ReachdTargetDown" and .labels.device == "lab2")' "$ALERTS" | head -1 > "$WORK/alert.json"
check "the alert carries the inventory's site and role" \
  jq -e '.labels.site == "fra1" and .labels.role == "edge" and .labels.protocol == "icmp"' "$WORK/alert.json"
check "the alert's description names the reason (dns) and phase (resolve)" \
  jq -e '.annotations.description | test("reason dns") and test("phase resolve")' "$WORK/alert.json"
check "no alert for lab1, which still answers" bash -c "! jq -e '.alerts[] | select(.labels.device == \"lab1\")' '$ALERTS' >/dev/null"

# lab2 comes back: the alert resolves.
write_config 127.0.0.2
kill -HUP "$RPID"
resolved() { [ -n "$(jq -c '.alerts[] | select(.labels.alertname == "ReachdTargetDown" and .labels.device == "lab2" and .status == "resolved")' "$ALERTS" 2>/dev/null)" ]; }
check "the alert resolves when lab2 answers again" wait_for 90 resolved

summary
