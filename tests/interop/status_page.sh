#!/usr/bin/env bash
# The status page of `reachd demo` in a real browser: Debian's headless
# Chromium driven by Playwright (tests/interop/node/status-page.mjs). Once
# every one of the lab's 16 checks has run, the page lists every device ×
# protocol with the right state, reason and phase, down first; SW1 and SW2
# (parents: [R4]) are behind R4, in its group "R4 down — 2 devices behind
# it": collapsed, opened by a click that survives the refresh, opened by a
# filter that finds them. It sorts, filters, refreshes itself without losing
# the filter, fits a phone, shows no secret, and works without JavaScript;
# the DOM and /api/v1/status agree.
# Screenshots go to $WORK only; SCREENSHOT_TO=path also saves the desktop one
# there, SCREENSHOT_OPEN_TO=path the one with R4's group open (how
# docs/status-page.png and docs/status-page-outage.png are made, by hand).
# Loopback only: the demo lab's devices are simulated on 127.0.0.0/8, R4 is
# pinged at 127.255.255.255.
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

# Every check has run once: 16 targets. (ICMP every 5 s, SSH and Telnet
# every 10 s; R4's, SW1's and SW2's connects take their 2 s timeout.) And
# SW1 and SW2 are found behind R4: R4 is down once all three of its checks
# have failed.
all_checked() {
  [ "$(curl -sf "${BASE}api/v1/status" | jq '[.targets, ([.status[] | select(.behind == "R4")] | length)]' -c)" = '[16,4]' ]
}
if ! check "the demo's 16 checks have all run, SW1 and SW2 behind R4 (GET /api/v1/status)" wait_for 60 all_checked; then
  curl -s "${BASE}api/v1/status" | jq -c '.status[] | [.device, .protocol, .reason, .behind]' | sed 's/^/     /' || true
  sed 's/^/     /' "$WORK/reachd.log" | tail -20
fi
curl -sf "${BASE}api/v1/status" > "$WORK/status.json" || true
check "the API's rows: R1, R2 up; R3 icmp up, ssh/telnet auth_failed; R4 down; SW1, SW2 down behind R4" test \
  "$(jq -c '[.status[] | [.device, .protocol, .up, .reason, .behind]]' "$WORK/status.json")" = \
  '[["R1","icmp",true,"ok",null],["R1","ssh",true,"ok",null],["R1","telnet",true,"ok",null],["R2","icmp",true,"ok",null],["R2","ssh",true,"ok",null],["R2","telnet",true,"ok",null],["R3","icmp",true,"ok",null],["R3","ssh",false,"auth_failed",null],["R3","telnet",false,"auth_failed",null],["R4","icmp",false,"no_reply",null],["R4","ssh",false,"timeout",null],["R4","telnet",false,"timeout",null],["SW1","ssh",false,"timeout","R4"],["SW1","telnet",false,"timeout","R4"],["SW2","ssh",false,"timeout","R4"],["SW2","telnet",false,"timeout","R4"]]'

checks_from node "$NODE_DIR/status-page.mjs" "$BASE" "$WORK"

check "the demo logged JSON lines" bash -c "grep -q '^{' '$WORK/reachd.log'"
summary
