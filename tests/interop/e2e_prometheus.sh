#!/usr/bin/env bash
# End to end: `reachd run` monitoring loopback ICMP targets, scraped by a real
# Prometheus (Debian package); `promtool check metrics` on its output; a good
# reload (a device added, one removed: its series disappear), a broken reload
# (refused, the old configuration keeps running, the reload metric drops to
# 0); SIGTERM (exit 0). Everything listens on and talks to 127.0.0.1 only.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
need prometheus promtool curl jq
need_reachd
RPORT=$(free_port)

write_config() { # $1: device lines
  cat > "$WORK/reachd.yaml" <<YAML
listen: 127.0.0.1:$RPORT
log: {format: json, level: info}
shutdown_grace: 2s
defaults:
  icmp: {interval: 1s, timeout: 900ms, count: 2, spacing: 100ms}
devices:
$1
YAML
}
write_config "  - {name: lo1, address: 127.0.0.1, labels: {site: here}}
  - {name: lo2, address: 127.0.0.2, labels: {site: here}}"

"$REACHD" run --config "$WORK/reachd.yaml" --web.enable-lifecycle 2> "$WORK/reachd.log" &
RPID=$!
PIDS+=("$RPID")

metrics() { curl -sf "http://127.0.0.1:$RPORT/metrics"; }
# Not `metrics | grep -q`: under pipefail, grep -q exiting at its match can
# kill curl with SIGPIPE and fail the pipeline although the line was there.
has() { metrics > "$WORK/has.txt" && grep -qF "$1" "$WORK/has.txt"; }

check "reachd becomes ready" wait_for 15 curl -sf "http://127.0.0.1:$RPORT/-/ready"
check "both devices report up" wait_for 10 bash -c "curl -sf http://127.0.0.1:$RPORT/metrics | grep -c '^reachd_up{.*} 1' | grep -qx 2"

prometheus_config "$RPORT"
start_prometheus

check "Prometheus scrapes reachd (up == 1)" wait_for 30 query_is 'up{job="reachd"}' 1
check "Prometheus sees both devices up" wait_for 15 query_is 'sum(reachd_up{protocol="icmp"})' 2
check "RTT histogram is queryable" wait_for 15 query_is 'count(histogram_quantile(0.5, rate(reachd_icmp_rtt_seconds_bucket[10s])) >= 0)' 2
check "device_info joins on device" wait_for 10 query_is 'count(reachd_up * on(device) group_left(site) reachd_device_info{site="here"})' 2

metrics > "$WORK/metrics.txt"
if promtool check metrics < "$WORK/metrics.txt" > "$WORK/promtool.out" 2>&1 && [ ! -s "$WORK/promtool.out" ]; then
  ok "promtool check metrics: no problems"
else
  no "promtool check metrics:"; cat "$WORK/promtool.out"
fi

# Good reload: lo2 goes, lo3 comes.
write_config "  - {name: lo1, address: 127.0.0.1, labels: {site: here}}
  - {name: lo3, address: 127.0.0.3, labels: {site: there}}"
before=$(metrics | awk '/^reachd_checks_total\{device="lo1"/ {print $2}')
kill -HUP "$RPID"
check "reload: the new device is checked" wait_for 10 has 'reachd_up{device="lo3",protocol="icmp"} 1'
check "reload: the removed device's series are gone" bash -c "! curl -sf http://127.0.0.1:$RPORT/metrics | grep -q 'device=\"lo2\"'"
check "reload: success metric is 1" has 'reachd_config_last_reload_successful 1'
check "reload: logged what changed" grep -q "\"added\":1,\"removed\":1,\"changed\":0,\"unchanged\":1" "$WORK/reachd.log"
check "POST /-/reload succeeds and says what changed" bash -c \
  "curl -s -X POST http://127.0.0.1:$RPORT/-/reload | grep -q '0 added, 0 removed, 0 changed, 2 unchanged'"
after=$(metrics | awk '/^reachd_checks_total\{device="lo1"/ {print $2}')
check "reload: the unchanged device kept its counters ($before -> $after)" test "${after:-0}" -ge "${before:-1}"

# Broken reload: refused, the old configuration keeps running.
echo "devices: [{name: x, adress: 127.0.0.9}]" > "$WORK/reachd.yaml"
kill -HUP "$RPID"
check "broken reload: success metric drops to 0" wait_for 10 has 'reachd_config_last_reload_successful 0'
check "broken reload: the error is logged with file, line and field" \
  grep -q 'unknown field `adress`, did you mean `address`' "$WORK/reachd.log"
n1=$(metrics | awk '/^reachd_checks_total\{device="lo3"/ {print $2}')
sleep 2.5
n2=$(metrics | awk '/^reachd_checks_total\{device="lo3"/ {print $2}')
check "broken reload: the old configuration keeps checking ($n1 -> $n2)" test "${n2:-0}" -gt "${n1:-0}"
check "POST /-/reload reports the error" bash -c "curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:$RPORT/-/reload | grep -qx 400"

# SIGTERM: exits 0, promptly.
kill -TERM "$RPID"
code=0
wait "$RPID" || code=$?
check "SIGTERM: exit code 0 (got $code)" test "$code" -eq 0
check "SIGTERM: logged the stop" grep -q '"SIGTERM: stopping"' "$WORK/reachd.log"

summary
