#!/usr/bin/env bash
# TelnetStream against a real inetutils telnetd with /bin/login, started per
# connection by inetutils' inetd on a loopback port: the login prompt comes
# through the negotiation, ECHO and SGA are on, and a wrong login reads
# "Login incorrect". (The Telnet login check itself comes with issue 4.)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ -x /usr/sbin/inetutils-inetd ] && [ -x /usr/sbin/telnetd ] \
  || { echo "missing: inetutils-inetd and inetutils-telnetd" >&2; exit 1; }
WORK=$(mktemp -d /tmp/reachd-telnetd.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "127.0.0.1:$PORT stream tcp nowait root /usr/sbin/telnetd telnetd" > "$WORK/inetd.conf"
/usr/sbin/inetutils-inetd -d --pidfile="$WORK/inetd.pid" "$WORK/inetd.conf" > "$WORK/inetd.log" 2>&1 &
PID=$!
for _ in $(seq 50); do ss -ltn | grep -q "127.0.0.1:$PORT " && break; sleep 0.1; done

cd "$ROOT"
REACHD_TELNETD_ADDR="127.0.0.1:$PORT" cargo test --locked --test telnet_interop -- --ignored
