#!/usr/bin/env bash
# ICMP probe interop tests, root only.
#
# Every packet stays inside network namespaces this script creates (and
# deletes on exit); addresses come from 198.18.0.0/15 (benchmarking, RFC 2544)
# and 2001:2::/48 (IPv6 benchmarking, RFC 5180), used only in those
# namespaces. No name is resolved. The checks themselves are the ignored
# tests of tests/icmp_interop.rs (and the whole of tests/icmp_loopback.rs),
# run inside the namespaces with `ip netns exec`, as root or as `nobody`.
#
#   (a) a silent host (icmp_echo_ignore_all=1) behind a veth → no_reply, 0/3,
#       within the timeout (after a control check that it answers at first);
#   (b) no route at all (only lo up) → unreachable, IPv4 and IPv6;
#   (c) privileges: as nobody with ping_group_range "1 0" → the setup error
#       naming both fixes; with "0 2147483647" → works unprivileged (and the
#       loopback suite passes unprivileged, then raw as root);
#   (d) a router answering ICMP(v6) unreachable → unreachable on a raw
#       socket (IPv4 and IPv6); no_reply on an unprivileged one (the kernel
#       does not pass ICMP errors to ping sockets).
#
# Usage: sudo tests/interop/icmp.sh        (from anywhere in the repository)
set -euo pipefail

if [[ $EUID -ne 0 ]]; then
    echo "SKIP: tests/interop/icmp.sh needs root (network namespaces)" >&2
    exit 77
fi
for tool in ip setpriv cargo jq; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PFX="rdicmp$$"
WORK=$(mktemp -d "/tmp/reachd-icmp-interop.XXXXXX")
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)

cleanup() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PFX}" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- build the test binaries and copy them where `nobody` may run them ---
echo "building test binaries…"
(cd "$ROOT" && cargo test --no-run --message-format=json \
    --test icmp_interop --test icmp_loopback) >"$WORK/build.json"
bin_of() {
    jq -r --arg t "$1" 'select(.reason == "compiler-artifact" and .target.name == $t
        and .executable != null) | .executable' "$WORK/build.json" | tail -n1
}
chmod 755 "$WORK"
for t in icmp_interop icmp_loopback; do
    src=$(bin_of "$t")
    [[ -x "$src" ]] || { echo "cannot find the $t test binary" >&2; exit 1; }
    install -m 755 "$src" "$WORK/$t"
done
INTEROP="$WORK/icmp_interop"
LOOPBACK="$WORK/icmp_loopback"

# --- bookkeeping ---
passed=0
failed=0
failures=()
# run NAME COMMAND…: one test case; output kept, shown on failure.
run() {
    local name=$1
    shift
    local log="$WORK/$(echo "$name" | tr -c 'a-zA-Z0-9_-' '_').log"
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "ok    $name"
        grep -E '^(verdict|mode|setup error):' "$log" | sed 's/^/      /' || true
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "FAIL  $name"
        sed 's/^/      | /' "$log"
    fi
}
# check NS [as-nobody] VAR=VALUE…: the env-driven check inside namespace NS.
check() {
    local ns=$1
    shift
    local who=()
    if [[ ${1:-} == as-nobody ]]; then
        who=("${NOBODY[@]}")
        shift
    fi
    ip netns exec "$ns" "${who[@]}" env "$@" \
        "$INTEROP" --ignored --exact interop_check --nocapture
}
netns() {
    ip netns add "${PFX}$1"
    ip -n "${PFX}$1" link set lo up
}
sysctl_in() { ip netns exec "${PFX}$1" sysctl -qw "$2"; }
# linked A B NET: namespaces A and B joined by a veth pair, A at NET.1/30 and
# B at NET.2/30.
linked() {
    netns "$1"
    netns "$2"
    ip link add "${PFX}$1v" netns "${PFX}$1" type veth peer name "${PFX}$2v" netns "${PFX}$2"
    ip -n "${PFX}$1" addr add "$3.1/30" dev "${PFX}$1v"
    ip -n "${PFX}$2" addr add "$3.2/30" dev "${PFX}$2v"
    ip -n "${PFX}$1" link set "${PFX}$1v" up
    ip -n "${PFX}$2" link set "${PFX}$2v" up
}

# --- (a) a host that ignores echo requests ---
linked a1 a2 198.18.0
run "(a) control: the far namespace answers, 3/3" \
    check "${PFX}a1" REACHD_ICMP_TARGET=198.18.0.2 REACHD_ICMP_EXPECT=ok \
    REACHD_ICMP_SENT=3 REACHD_ICMP_RECEIVED=3
sysctl_in a2 net.ipv4.icmp_echo_ignore_all=1
run "(a) a silent host ends no_reply 0/3 within its timeout" \
    check "${PFX}a1" REACHD_ICMP_TARGET=198.18.0.2 REACHD_ICMP_EXPECT=no_reply \
    REACHD_ICMP_SENT=3 REACHD_ICMP_RECEIVED=0 REACHD_ICMP_TIMEOUT_MS=1500 \
    REACHD_ICMP_DETAIL="0/3 replies"

# --- (b) no route ---
netns b
run "(b) IPv4 with no route is unreachable" \
    check "${PFX}b" REACHD_ICMP_TARGET=198.18.1.1 REACHD_ICMP_EXPECT=unreachable \
    REACHD_ICMP_SENT=0 REACHD_ICMP_DETAIL="no route to 198.18.1.1"
run "(b) IPv6 with no route is unreachable" \
    check "${PFX}b" REACHD_ICMP_TARGET=2001:2::1 REACHD_ICMP_EXPECT=unreachable \
    REACHD_ICMP_SENT=0

# --- (c) privileges ---
netns c
sysctl_in c 'net.ipv4.ping_group_range=1 0'
run "(c) as nobody without ping_group_range: the setup error names both fixes" \
    ip netns exec "${PFX}c" "${NOBODY[@]}" \
    "$INTEROP" --ignored --exact interop_setup_fails --nocapture
sysctl_in c 'net.ipv4.ping_group_range=0 2147483647'
run "(c) as nobody with ping_group_range: works unprivileged" \
    check "${PFX}c" as-nobody REACHD_ICMP_TARGET=127.0.0.1 REACHD_ICMP_EXPECT=ok \
    REACHD_ICMP_MODE=unprivileged REACHD_ICMP_SENT=3 REACHD_ICMP_RECEIVED=3
run "(c) the loopback suite, unprivileged as nobody" \
    ip netns exec "${PFX}c" "${NOBODY[@]}" "$LOOPBACK" --include-ignored
sysctl_in c 'net.ipv4.ping_group_range=1 0'
run "(c) root without ping_group_range uses a raw socket" \
    check "${PFX}c" REACHD_ICMP_TARGET=127.0.0.1 REACHD_ICMP_EXPECT=ok REACHD_ICMP_MODE=raw
run "(c) the loopback suite, raw as root" \
    ip netns exec "${PFX}c" "$LOOPBACK" --include-ignored

# --- (d) a router that answers "host unreachable" ---
linked d1 d2 198.18.2
ip -n "${PFX}d1" route add default via 198.18.2.2
sysctl_in d2 net.ipv4.ip_forward=1
ip -n "${PFX}d2" route add unreachable 198.18.99.0/24
ip -n "${PFX}d2" route add prohibit 198.18.98.0/24
ip -n "${PFX}d1" addr add 2001:2::1/64 dev "${PFX}d1v" nodad
ip -n "${PFX}d2" addr add 2001:2::2/64 dev "${PFX}d2v" nodad
ip -n "${PFX}d1" -6 route add default via 2001:2::2
sysctl_in d2 net.ipv6.conf.all.forwarding=1
ip -n "${PFX}d2" -6 route add unreachable 2001:2:99::/48
sysctl_in d1 'net.ipv4.ping_group_range=1 0'
run "(d) raw: ICMP host unreachable from the router → unreachable" \
    check "${PFX}d1" REACHD_ICMP_TARGET=198.18.99.1 REACHD_ICMP_EXPECT=unreachable \
    REACHD_ICMP_MODE=raw REACHD_ICMP_DETAIL="host unreachable from 198.18.2.2"
run "(d) raw: ICMP administratively prohibited → unreachable" \
    check "${PFX}d1" REACHD_ICMP_TARGET=198.18.98.1 REACHD_ICMP_EXPECT=unreachable \
    REACHD_ICMP_MODE=raw REACHD_ICMP_DETAIL="administratively prohibited from 198.18.2.2"
run "(d) raw: ICMPv6 no route from the router → unreachable" \
    check "${PFX}d1" REACHD_ICMP_TARGET=2001:2:99::1 REACHD_ICMP_EXPECT=unreachable \
    REACHD_ICMP_MODE=raw REACHD_ICMP_DETAIL="no route to destination from 2001:2::2"
run "(d) raw: the router itself answers over IPv6" \
    check "${PFX}d1" REACHD_ICMP_TARGET=2001:2::2 REACHD_ICMP_EXPECT=ok \
    REACHD_ICMP_SENT=3 REACHD_ICMP_RECEIVED=3
sysctl_in d1 'net.ipv4.ping_group_range=0 2147483647'
run "(d) unprivileged: the same ICMP error is not seen → no_reply 0/3" \
    check "${PFX}d1" as-nobody REACHD_ICMP_TARGET=198.18.99.1 REACHD_ICMP_EXPECT=no_reply \
    REACHD_ICMP_MODE=unprivileged REACHD_ICMP_SENT=3 REACHD_ICMP_RECEIVED=0 \
    REACHD_ICMP_TIMEOUT_MS=1000

echo
if ((failed > 0)); then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
