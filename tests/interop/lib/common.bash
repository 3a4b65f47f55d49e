# Shared harness of the interop scripts (sourced, not run: .ci/run runs only
# tests/interop/*.sh). Gives ROOT, REACHD, WORK (removed on exit), PIDS
# (killed on exit), ok/no/check/check_out/checks_from, expect_verdict,
# wait_for, free_port, need, stage, summary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
REACHD=${REACHD:-$ROOT/target/debug/reachd}
WORK=$(mktemp -d "/tmp/reachd-$(basename "$0" .sh).XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
no() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }
# Like check, and shows the command's output when it fails.
check_out() {
  local what=$1; shift
  if "$@" > "$WORK/out" 2>&1; then ok "$what"; else no "$what"; sed 's/^/     /' "$WORK/out"; fi
}
# wait_for SECONDS COMMAND...: until the command succeeds, or false.
wait_for() {
  local until=$((SECONDS + $1)); shift
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $until ] || return 1
    sleep 0.2
  done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# need TOOL...: fail at once, naming what is missing.
need() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }; done
}
need_reachd() { [ -x "$REACHD" ] || { echo "build reachd first ($REACHD)" >&2; exit 1; }; }
# checks_from COMMAND...: runs a checker that prints one `ok <what>` or
# `FAIL <what>` line per check, counted as ok/no; other lines are shown
# indented; a checker that exits non-zero is one more failure.
checks_from() {
  local line
  while IFS= read -r line; do
    case $line in
      "ok "*) ok "${line#ok }" ;;
      "FAIL "*) no "${line#FAIL }" ;;
      *) echo "     $line" ;;
    esac
  done < <("$@" 2>&1 || echo "FAIL $(basename "$1") exited with status $?")
}
# expect_verdict PROTOCOL DEVICE REASON PHASE [JQ_CONDITION]: one
# `reachd check "${CHECK_ARGS[@]}" --device DEVICE --format json`; its
# PROTOCOL verdict must have REASON, PHASE and the condition, and none of
# "${SECRETS[@]}" may appear in its output. VERBOSE=1 shows each verdict.
expect_verdict() {
  local proto=$1 dev=$2 reason=$3 phase=$4 cond=${5:-true} secret
  local out=$WORK/verdict.out err=$WORK/verdict.err
  "$REACHD" check "${CHECK_ARGS[@]}" --device "$dev" --format json > "$out" 2> "$err" || true
  if [ -s "$out" ] && jq -e --arg p "$proto" --arg r "$reason" --arg ph "$phase" \
      "select(.protocol == \$p) | .reason == \$r and .phase == \$ph and ($cond)" \
      "$out" > /dev/null; then
    ok "$dev: $reason/$phase"
    if [ -n "${VERBOSE:-}" ]; then echo "     $(jq -c '{detail, prompt, phases}' "$out")"; fi
  else
    no "$dev: expected $reason/$phase ($cond), got: $(cat "$out") $(cat "$err")"
  fi
  # Files, not pipes into grep -q: with pipefail, grep -q quitting at its
  # match can fail the pipeline, and a leaked secret would go unnoticed.
  for secret in "${SECRETS[@]}"; do
    if grep -qF -- "$secret" "$out" "$err"; then no "$dev: a secret appears in the output"; fi
  done
}
# stage NAME: a new stage of the script; the previous one's duration is
# printed (`--- NAME: N s`), the last one's by summary.
STAGE="" STAGE_START=0
stage() { stage_end; STAGE=$*; STAGE_START=$SECONDS; echo "--- $STAGE"; }
stage_end() {
  [ -z "$STAGE" ] || echo "--- $STAGE: $((SECONDS - STAGE_START)) s"
  STAGE=""
}
# The closing line CI reads, and the exit status.
summary() {
  stage_end
  echo
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

# prometheus_config RPORT [LINE…]: $WORK/prometheus.yml scraping reachd on
# 127.0.0.1:RPORT every second; each LINE is added at the top level
# (rule_files, alerting…).
prometheus_config() {
  local rport=$1; shift
  {
    echo "global: {scrape_interval: 1s, evaluation_interval: 1s}"
    local line
    for line in "$@"; do echo "$line"; done
    echo "scrape_configs:"
    echo "  - job_name: reachd"
    echo "    static_configs: [{targets: [\"127.0.0.1:$rport\"]}]"
  } > "$WORK/prometheus.yml"
}
# start_prometheus: a real Prometheus on $WORK/prometheus.yml, listening on
# 127.0.0.1:$PPORT (chosen here), data in $WORK.
start_prometheus() {
  PPORT=$(free_port)
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" --log.level=warn 2> "$WORK/prometheus.log" &
  PIDS+=("$!")
}
# query PROMQL: the first result's value, or nothing; query_is PROMQL VALUE.
query() {
  curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" \
    | jq -r '.data.result[0].value[1] // empty'
}
query_is() { [ "$(query "$1")" = "$2" ]; }
