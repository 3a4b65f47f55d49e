#!/usr/bin/env bash
# TelnetStream against a real inetutils telnetd with /bin/login, started per
# connection by inetutils' inetd on a loopback port: the login prompt comes
# through the negotiation, ECHO and SGA are on, and a wrong login reads
# "Login incorrect". (The Telnet login check itself: tests/interop/telnet.sh.)
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
[ -x /usr/sbin/inetutils-inetd ] && [ -x /usr/sbin/telnetd ] \
  || { echo "missing: inetutils-inetd and inetutils-telnetd" >&2; exit 1; }

PORT=$(free_port)
echo "127.0.0.1:$PORT stream tcp nowait root /usr/sbin/telnetd telnetd" > "$WORK/inetd.conf"
/usr/sbin/inetutils-inetd -d --pidfile="$WORK/inetd.pid" "$WORK/inetd.conf" > "$WORK/inetd.log" 2>&1 &
PIDS+=("$!")
listening() { ss -ltn > "$WORK/ss" && grep -q "127.0.0.1:$PORT " "$WORK/ss"; }
wait_for 5 listening

cd "$ROOT"
REACHD_TELNETD_ADDR="127.0.0.1:$PORT" cargo test --locked --test telnet_interop -- --ignored
