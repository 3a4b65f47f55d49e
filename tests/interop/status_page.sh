#!/usr/bin/env bash
# The status page in a real browser (Debian's headless Chromium): after its
# script has run, the DOM lists every device × protocol with the right
# state, down first; the embedded data and /api/v1/status agree. Loopback only.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
need chromium curl jq
need_reachd
PORT=$(free_port)
cat > "$WORK/reachd.yaml" <<YAML
listen: 127.0.0.1:$PORT
log: {format: json}
defaults: {icmp: {interval: 1s, timeout: 900ms, count: 1}}
devices:
  - {name: alpha, address: 127.0.0.1}
  - {name: bravo, address: 127.0.0.2}
  - {name: zulu-down, address: zulu.invalid}
YAML
"$REACHD" run --config "$WORK/reachd.yaml" 2> "$WORK/reachd.log" &
PIDS+=("$!")
for _ in $(seq 50); do
  [ "$(curl -sf "http://127.0.0.1:$PORT/api/v1/status" | jq '.targets' 2>/dev/null)" = 3 ] && break
  sleep 0.2
done
check "the API reports 3 targets" test "$(curl -sf "http://127.0.0.1:$PORT/api/v1/status" | jq .targets)" = 3

chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/profile" "$@" 2>/dev/null
}
chrome --virtual-time-budget=3000 --dump-dom "http://127.0.0.1:$PORT/" > "$WORK/dom.html"

rows=$(grep -o '<tr data-device="[^"]*" data-protocol="[^"]*"[^>]*>' "$WORK/dom.html" || true)
check "the script rendered a row per check" test "$(echo "$rows" | grep -c data-device)" -eq 3
check "down first: zulu-down is the first row" bash -c "echo '$rows' | head -1 | grep -q 'data-device=\"zulu-down\".*class=\"is-down\"'"
check "alpha is UP" grep -q '<tr data-device="alpha" data-protocol="icmp"><td>alpha</td><td>icmp</td><td class="up">UP</td><td>ok</td>' "$WORK/dom.html"
check "zulu-down is DOWN with reason dns" grep -q '<td class="down">DOWN</td><td>dns</td>' "$WORK/dom.html"
check "the summary counts" grep -q '3 checks: <span class="up">2 up</span>, <span class="down">1 down</span>' "$WORK/dom.html"
check "no template markers left" bash -c "! grep -q '<!--ROWS-->\|<!--DATA-->' '$WORK/dom.html'"

chrome --window-size=390,640 --virtual-time-budget=3000 --screenshot="$WORK/phone.png" "http://127.0.0.1:$PORT/" >/dev/null
check "renders at phone width" test -s "$WORK/phone.png"

summary
