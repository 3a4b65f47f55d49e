#!/usr/bin/env bash
# `reachd trace` interop test, root only: a real 3-hop path between network
# namespaces, traced unprivileged (as nobody, ping socket + error queue) and
# raw (as root), over IPv4 and IPv6.
#
#   mon ──198.18.1.0/30── r1 ──198.18.2.0/30── r2 ──198.18.3.0/30── d1
#       2001:2:0:1::/64       2001:2:0:2::/64       2001:2:0:3::/64
#   (mon .1/::1, r1 .2/::2 | r1 .1/::1, r2 .2/::2 | r2 .1/::1, d1 .2/::2)
#
# Every packet stays inside the namespaces this script creates (deleted on
# every exit path); addresses are from 198.18.0.0/15 (RFC 2544) and
# 2001:2::/48 (RFC 5180), benchmarking ranges, used only in there. No name
# is resolved.
#
#   (a) d1 is reached in 3 hops, r1 and r2 answering with the address of
#       the interface facing mon (see the note at (a));
#   (b) r2 stops forwarding (ip_forward / forwarding = 0): r2 drops the
#       packets silently, even those whose TTL runs out there, so the path
#       ends after r1: [r1, *];
#   (c) r2 loses its link toward d1 (link down): r2 has no route, answers
#       "destination unreachable" (net / no route) instead, which ends the
#       path at r2, not reached: [r1, r2];
#   (d) as nobody without ping_group_range: the error names the fixes;
#   (e) tests/trace_loopback.rs, unprivileged as nobody and raw as root.
#
# Usage: sudo tests/interop/trace.sh   (builds target/debug/reachd if needed)
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

if [[ $EUID -ne 0 ]]; then
    echo "SKIP: tests/interop/trace.sh needs root (network namespaces)" >&2
    exit 77
fi
need ip setpriv jq cargo

PFX="rdtr$$"
MON="${PFX}mon"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)

# Namespaces first, then the shared harness's cleanup (WORK, PIDS).
cleanup_netns() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PFX}" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    cleanup
}
trap cleanup_netns EXIT

# reachd and the loopback test binary, where nobody may run them.
(cd "$ROOT" && cargo build --quiet --bin reachd)
(cd "$ROOT" && cargo test --no-run --message-format=json --test trace_loopback) >"$WORK/build.json"
chmod 755 "$WORK"
install -m 755 "$REACHD" "$WORK/reachd"
BIN="$WORK/reachd"
LOOPBACK=$(jq -r 'select(.reason == "compiler-artifact" and .target.name == "trace_loopback"
    and .executable != null) | .executable' "$WORK/build.json" | tail -n1)
[[ -x "$LOOPBACK" ]] || { echo "cannot find the trace_loopback test binary" >&2; exit 1; }
install -m 755 "$LOOPBACK" "$WORK/trace_loopback"

# --- the lab ---
netns() {
    ip netns add "${PFX}$1"
    ip -n "${PFX}$1" link set lo up
}
sysctl_in() { ip netns exec "${PFX}$1" sysctl -qw "$2"; }
# link A B N: a veth pair between A and B, A at 198.18.N.1 and 2001:2:0:N::1,
# B at .2 and ::2.
link() {
    local a=$1 b=$2 n=$3
    ip link add "${PFX}$a$n" netns "${PFX}$a" type veth peer name "${PFX}$b$n" netns "${PFX}$b"
    ip -n "${PFX}$a" addr add "198.18.$n.1/30" dev "${PFX}$a$n"
    ip -n "${PFX}$b" addr add "198.18.$n.2/30" dev "${PFX}$b$n"
    ip -n "${PFX}$a" addr add "2001:2:0:$n::1/64" dev "${PFX}$a$n" nodad
    ip -n "${PFX}$b" addr add "2001:2:0:$n::2/64" dev "${PFX}$b$n" nodad
    ip -n "${PFX}$a" link set "${PFX}$a$n" up
    ip -n "${PFX}$b" link set "${PFX}$b$n" up
}
for ns in mon r1 r2 d1; do netns "$ns"; done
link mon r1 1
link r1 r2 2
link r2 d1 3
# Routes: mon and d1 by default toward the middle; r1 and r2 only what
# they need (no default route on r2, so that without its link to d1 it has
# no route at all, rather than one back to r1: a loop).
ip -n "${PFX}mon" route add default via 198.18.1.2
ip -n "${PFX}mon" -6 route add default via 2001:2:0:1::2
ip -n "${PFX}r1" route add 198.18.3.0/30 via 198.18.2.2
ip -n "${PFX}r1" -6 route add 2001:2:0:3::/64 via 2001:2:0:2::2
ip -n "${PFX}r2" route add 198.18.1.0/30 via 198.18.2.1
ip -n "${PFX}r2" -6 route add 2001:2:0:1::/64 via 2001:2:0:2::1
ip -n "${PFX}d1" route add default via 198.18.3.1
ip -n "${PFX}d1" -6 route add default via 2001:2:0:3::1
for r in r1 r2; do
    sysctl_in "$r" net.ipv4.ip_forward=1
    sysctl_in "$r" net.ipv6.conf.all.forwarding=1
done

# The veths' link-local addresses (fe80::, made when a link comes up) stay
# tentative for about 2 s of duplicate address detection, and until then
# the first IPv6 packets wait for neighbour discovery: a first trace took
# 2 s. Wait for them, so that the times below are the tracer's.
for _ in $(seq 50); do
    tentative=""
    for ns in mon r1 r2 d1; do tentative+=$(ip -n "${PFX}$ns" -6 addr show tentative); done
    [[ -z $tentative ]] && break
    sleep 0.1
done

# --- running and checking traces ---
# trace WHO ADDR: `reachd trace ADDR --format json` in mon, as nobody
# (unprivileged: ping_group_range open) or root (raw: ping_group_range
# closed, so root's group is not in it). Sets RC and MS (wall time, ms);
# output in $WORK/trace.json, errors in $WORK/trace.err.
trace() {
    local who=$1 addr=$2 pre=()
    if [[ $who == nobody ]]; then
        pre=("${NOBODY[@]}")
        sysctl_in mon 'net.ipv4.ping_group_range=0 2147483647'
    else
        sysctl_in mon 'net.ipv4.ping_group_range=1 0'
    fi
    local t0=$(date +%s%N)
    RC=0
    ip netns exec "$MON" "${pre[@]}" "$BIN" trace "$addr" --format json \
        >"$WORK/trace.json" 2>"$WORK/trace.err" || RC=$?
    MS=$((($(date +%s%N) - t0) / 1000000))
}
# expect WHAT WHO ADDR RC HOPS_JSON SUMMARY: the trace's exit status, hops
# (a JSON array), summary, and socket kind (from WHO).
expect() {
    local what=$1 who=$2 addr=$3 rc=$4 hops=$5 summary=$6 mode=raw
    [[ $who == nobody ]] && mode=unprivileged
    trace "$who" "$addr"
    if [[ $RC == "$rc" ]] && jq -e --argjson h "$hops" --arg s "$summary" --arg m "$mode" \
        '.hops == $h and .summary == $s and .mode == $m' "$WORK/trace.json" >/dev/null; then
        ok "$what ($mode, ${MS} ms): $(jq -c .hops "$WORK/trace.json")"
    else
        no "$what ($mode): exit $RC, want $rc, hops $hops, \"$summary\"; got: $(cat "$WORK/trace.json" "$WORK/trace.err")"
    fi
    # Routers answer ICMP errors from a per-sender token bucket (Linux:
    # net.ipv4.icmp_ratelimit, 1 s, bursts of 6); (c) spends it.
    sleep 1.2
}

# (a) The whole path. A router's "time exceeded" comes from the address
# the kernel picks as source for a packet back to mon: that of the
# interface its route to mon leaves by, here the one facing mon (r1
# 198.18.1.2, r2 198.18.2.2); not the one the request was heading out of.
for who in nobody root; do
    expect "(a) IPv4: d1 reached in 3 hops" "$who" 198.18.3.2 0 \
        '["198.18.1.2","198.18.2.2","198.18.3.2"]' "path reaches the device in 3 hops"
    [[ $who == nobody ]] && echo "     wall time of the unprivileged 3-hop trace: ${MS} ms"
    expect "(a) IPv6: d1 reached in 3 hops" "$who" 2001:2:0:3::2 0 \
        '["2001:2:0:1::2","2001:2:0:2::2","2001:2:0:3::2"]' "path reaches the device in 3 hops"
    expect "(a) IPv4: r2 itself is hop 2" "$who" 198.18.2.2 0 \
        '["198.18.1.2","198.18.2.2"]' "path reaches the device in 2 hops"
done

# (b) r2 stops forwarding. Linux checks a packet's route (and so whether
# the interface forwards) before its TTL: with forwarding off, r2 drops
# every packet not for itself silently (ip_error / ip6_forward count it
# and send nothing), including the TTL=2 ones it used to answer "time
# exceeded" for. So the path ends after r1 with one silent hop; the trace
# waits its whole timeout (3 s) for the silent TTLs.
sysctl_in r2 net.ipv4.ip_forward=0
sysctl_in r2 net.ipv6.conf.all.forwarding=0
for who in nobody root; do
    expect "(b) IPv4: r2 not forwarding, path ends after r1" "$who" 198.18.3.2 1 \
        '["198.18.1.2",null]' "path ends after 198.18.1.2 (hop 1 of ≥2)"
    expect "(b) IPv6: r2 not forwarding, path ends after r1" "$who" 2001:2:0:3::2 1 \
        '["2001:2:0:1::2",null]' "path ends after 2001:2:0:1::2 (hop 1 of ≥2)"
done
sysctl_in r2 net.ipv4.ip_forward=1
sysctl_in r2 net.ipv6.conf.all.forwarding=1
expect "(b) forwarding back: reached again" root 198.18.3.2 0 \
    '["198.18.1.2","198.18.2.2","198.18.3.2"]' "path reaches the device in 3 hops"

# (c) r2's link toward d1 goes down: its connected route to 198.18.3.0/30
# goes with it, and r2 has no other. The route lookup (before the TTL
# check) fails, so r2 answers "destination unreachable" (IPv4 network
# unreachable, ICMPv6 no route) to every request reaching it, TTL 2 or
# more: hop 2 answers, and the path ends there, not reached.
ip -n "${PFX}r2" link set "${PFX}r23" down
for who in nobody root; do
    expect "(c) IPv4: r2 without a route says unreachable" "$who" 198.18.3.2 1 \
        '["198.18.1.2","198.18.2.2"]' "path ends after 198.18.2.2 (hop 2 of ≥3)"
    expect "(c) IPv6: r2 without a route says unreachable" "$who" 2001:2:0:3::2 1 \
        '["2001:2:0:1::2","2001:2:0:2::2"]' "path ends after 2001:2:0:2::2 (hop 2 of ≥3)"
done

# (d) Neither socket allowed.
sysctl_in mon 'net.ipv4.ping_group_range=1 0'
RC=0
ip netns exec "$MON" "${NOBODY[@]}" "$BIN" trace 198.18.3.2 >"$WORK/trace.out" 2>"$WORK/trace.err" || RC=$?
if [[ $RC == 2 ]] && grep -q 'ping_group_range' "$WORK/trace.err" && grep -q 'setcap cap_net_raw+ep' "$WORK/trace.err"; then
    ok "(d) no ICMP socket allowed: exit 2, the error names both fixes"
else
    no "(d) no ICMP socket allowed: exit $RC: $(cat "$WORK/trace.out" "$WORK/trace.err")"
fi
# And a name is refused, not resolved.
RC=0
ip netns exec "$MON" "$BIN" trace d1.example >"$WORK/trace.out" 2>"$WORK/trace.err" || RC=$?
check "(d) a name is refused (exit 2, says no name is resolved)" \
    eval '[[ $RC == 2 ]] && grep -q "resolves no names" "$WORK/trace.err"'

# (e) The loopback suite (tests/trace_loopback.rs: 127.0.0.1 and ::1 in one
# hop, the budget, no descriptor left after 100 traces), both ways.
sysctl_in mon 'net.ipv4.ping_group_range=0 2147483647'
check_out "(e) the loopback suite, unprivileged as nobody" \
    ip netns exec "$MON" "${NOBODY[@]}" "$WORK/trace_loopback"
sysctl_in mon 'net.ipv4.ping_group_range=1 0'
check_out "(e) the loopback suite, raw as root" \
    ip netns exec "$MON" "$WORK/trace_loopback"

summary
