#!/usr/bin/env bash
# The status page of `reachd demo` in a real browser: Debian's headless
# Chromium driven by Playwright (tests/interop/node/status-page.mjs). Once
# every one of the lab's 12 checks has run, the page lists every device ×
# protocol with the right state, reason and phase, down first; it sorts,
# filters, refreshes itself without losing the filter, fits a phone, shows no
# secret, and works without JavaScript; the DOM and /api/v1/status agree.
# Screenshots go to $WORK only; SCREENSHOT_TO=path also saves the desktop one
# there (how docs/status-page.png is made, by hand). Loopback only: the demo
# lab's devices are simulated on 127.0.0.0/8, R4 is pinged at 127.255.255.255.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
need chromium node curl jq
need_reachd
NODE_DIR=$ROOT/tests/interop/node
[ -d "$NODE_DIR/node_modules/playwright-core" ] ||
  { echo "missing playwright-core: npm ci --prefix tests/interop/node" >&2; exit 1; }


PORT=$(free_port)
BASE="http://127.0.0.1:$PORT/"
"$REACHD" demo --listen "127.0.0.1:$PORT" --log-format json 2> "$WORK/reachd.log" &
PIDS+=("$!")

# Every check has run once: 12 targets. (ICMP every 5 s, SSH and Telnet
# every 10 s; R4's connects take their 2 s timeout.)
all_checked() { [ "$(curl -sf "${BASE}api/v1/status" | jq '.targets')" = 12 ]; }
if ! check "the demo's 12 checks have all run (GET /api/v1/status)" wait_for 60 all_checked; then
  curl -s "${BASE}api/v1/status" | jq -c '.status[] | [.device, .protocol, .reason]' | sed 's/^/     /' || true
  sed 's/^/     /' "$WORK/reachd.log" | tail -20
fi
curl -sf "${BASE}api/v1/status" > "$WORK/status.json" || true
check "the API's rows: R1, R2 up; R3 icmp up, ssh/telnet auth_failed; R4 down" test \
  "$(jq -c '[.status[] | [.device, .protocol, .up, .reason]]' "$WORK/status.json")" = \
  '[["R1","icmp",true,"ok"],["R1","ssh",true,"ok"],["R1","telnet",true,"ok"],["R2","icmp",true,"ok"],["R2","ssh",true,"ok"],["R2","telnet",true,"ok"],["R3","icmp",true,"ok"],["R3","ssh",false,"auth_failed"],["R3","telnet",false,"auth_failed"],["R4","icmp",false,"no_reply"],["R4","ssh",false,"timeout"],["R4","telnet",false,"timeout"]]'

checks_from node "$NODE_DIR/status-page.mjs" "$BASE" "$WORK"

check "the demo logged JSON lines" bash -c "grep -q '^{' '$WORK/reachd.log'"
summary
