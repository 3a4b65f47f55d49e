#!/usr/bin/env bash
# The fault soak's CI version (issue 9): `bench/soak.py --short` runs the
# release binary for ~2 minutes against 300 simulated devices with every
# `reachd sim` fault mixed in, while a client abuses its HTTP port (idle
# connections, slowloris, bursts of concurrent scrapes). One ok/FAIL per
# gating criterion: reachd ran to the end, open fds and RSS flat after the
# warm-up, fds under 90 % of RLIMIT_NOFILE, no check beyond its timeout +
# 100 ms, no false down, nothing skipped on targets expected up. The full
# table is shown; see bench/soak.py's docstring and the README's Performance
# section. Loopback only (127.0.0.0/8).
#
#   sudo bash tests/interop/soak.sh
#
# Root for ICMP (or a ping_group_range that admits our group). Builds the
# release binary if needed (`cargo build --release --locked`: the same
# build `cargo deb` makes in deb.sh, so one of them reuses the other's).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
cd "$ROOT"
need python3 cargo

read -r lo hi < /proc/sys/net/ipv4/ping_group_range
if [ "$(id -u)" -ne 0 ] && ! { [ "$(id -g)" -ge "$lo" ] && [ "$(id -g)" -le "$hi" ]; }; then
  echo "tests/interop/soak.sh needs root or net.ipv4.ping_group_range admitting group $(id -g) (ICMP checks)"
  exit 1
fi

check_out "cargo build --release --locked" cargo build --release --locked
RELEASE=$ROOT/target/release/reachd
[ -x "$RELEASE" ] || { summary; exit 1; }

# Gating verdicts come as `ok …`/`FAIL …` lines; everything else (the
# tables, `note …` lines) is shown indented. Exit status 1 means a FAIL
# line; anything else non-zero, or no verdicts at all, is a failure of its own.
status=0
python3 bench/soak.py --short --reachd "$RELEASE" --keep-log "$WORK/reachd.log" \
  > "$WORK/soak.out" 2>&1 || status=$?
verdicts=0 failed_lines=0
while IFS= read -r line; do
  case $line in
    "ok "*) ok "soak: ${line#ok }"; verdicts=$((verdicts + 1)) ;;
    "FAIL "*) no "soak: ${line#FAIL }"; verdicts=$((verdicts + 1)); failed_lines=$((failed_lines + 1)) ;;
    *) echo "     $line" ;;
  esac
done < "$WORK/soak.out"
if [ "$verdicts" -eq 0 ] || [ "$status" -gt 1 ] || { [ "$status" -eq 1 ] && [ "$failed_lines" -eq 0 ]; }; then
  no "bench/soak.py --short finished with its verdicts (exit status $status, $verdicts verdicts)"
  echo "     last lines of reachd's log:"
  tail -n 20 "$WORK/reachd.log" 2>/dev/null | sed 's/^/     /' || true
fi

summary
