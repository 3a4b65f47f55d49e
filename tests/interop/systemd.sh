#!/usr/bin/env bash
# The systemd unit: `systemd-analyze verify` passes and `systemd-analyze
# security --offline=true` rates it 2.0 ("OK") or better. (The notify
# protocol itself — READY, watchdog, RELOADING, STOPPING — is tested by
# tests/systemd_notify.rs with the real binary.) Runs no service.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
need systemd-analyze
need_reachd
UNIT=$ROOT/systemd/reachd.service

# The unit names /usr/bin/reachd; verify checks that the binary exists, so
# check a copy that names the one just built.
sed "s|/usr/bin/reachd|$REACHD|g" "$UNIT" > "$WORK/reachd.service"
if systemd-analyze verify "$WORK/reachd.service" > "$WORK/verify.out" 2>&1; then
  ok "systemd-analyze verify"
else
  no "systemd-analyze verify:"; cat "$WORK/verify.out"
fi

systemd-analyze security --offline=true "$WORK/reachd.service" > "$WORK/security.out" 2>&1 || true
level=$(sed -n 's/.*Overall exposure level for reachd.service: \([0-9.]*\).*/\1/p' "$WORK/security.out")
if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
  ok "systemd-analyze security: exposure $level (at most 2.0)"
else
  no "systemd-analyze security: exposure '${level:-?}' (want at most 2.0)"; tail -5 "$WORK/security.out"
fi

grep -q '^Type=notify$' "$UNIT" && ok "Type=notify" || no "Type=notify"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$UNIT" && ok "ExecReload sends SIGHUP" || no "ExecReload"
grep -q '^CapabilityBoundingSet=CAP_NET_RAW$' "$UNIT" && ok "only CAP_NET_RAW" || no "CapabilityBoundingSet"

summary
