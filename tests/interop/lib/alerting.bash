# The alerting pipeline of the interop scripts (sourced after common.bash, not
# run): a webhook receiver this script runs, a real Alertmanager routing to
# it, and a real Prometheus evaluating the shipped rules
# (dashboards/reachd.rules.yml) with every `for:` shortened. Loopback only.
#   start_webhook                      WPORT; ALERTS: one notification a line
#   start_alertmanager [WAIT [ROUTES]] APORT; group_wait WAIT (default 1s)
#   start_rules_prometheus RPORT FOR   PPORT; scrapes reachd every second
#   notifications                      one line per notification
need prometheus prometheus-alertmanager curl jq python3

ALERTS=$WORK/alerts.jsonl

# start_webhook: an HTTP receiver on 127.0.0.1:$WPORT (chosen here); every
# POST body (Alertmanager's webhook payload) is one line of $ALERTS, with
# `received_at` (Unix time) added, compact (no spaces after `:`).
start_webhook() {
  WPORT=$(free_port)
  cat > "$WORK/webhook.py" <<'PY'
import http.server, json, sys, time
out = open(sys.argv[2], "ab", buffering=0)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        body["received_at"] = time.time()
        out.write(json.dumps(body, separators=(",", ":")).encode() + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
  python3 "$WORK/webhook.py" "$WPORT" "$ALERTS" &
  PIDS+=("$!")
}

# start_alertmanager [GROUP_WAIT [ROUTES]]: a real Alertmanager on
# 127.0.0.1:$APORT (chosen here), one group per alert name and device, each
# notified once (repeat 1h) with resolved ones. Receivers `hook` (the route's
# default) and `chat` both post to the webhook; the payload's `receiver` says
# which. ROUTES: YAML lines added under `route:` (two spaces indented), e.g.
# a `routes:` list.
start_alertmanager() {
  local wait=${1:-1s} routes=${2:-}
  APORT=$(free_port)
  cat > "$WORK/alertmanager.yml" <<YAML
route:
  receiver: hook
  group_by: [alertname, device]
  group_wait: $wait
  group_interval: 1s
  repeat_interval: 1h
$routes
receivers:
  - name: hook
    webhook_configs: [{url: "http://127.0.0.1:$WPORT/", send_resolved: true}]
  - name: chat
    webhook_configs: [{url: "http://127.0.0.1:$WPORT/", send_resolved: true}]
YAML
  prometheus-alertmanager --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am" \
    --web.listen-address="127.0.0.1:$APORT" --cluster.listen-address= --log.level=warn \
    2> "$WORK/alertmanager.log" &
  PIDS+=("$!")
}

# start_rules_prometheus RPORT FOR: a real Prometheus scraping reachd on
# 127.0.0.1:RPORT, evaluating the shipped rules with every `for:` set to FOR
# ($WORK/rules.yml) and sending to the Alertmanager on $APORT.
start_rules_prometheus() {
  sed -E "s/^( +for: ).*/\\1$2/" "$ROOT/dashboards/reachd.rules.yml" > "$WORK/rules.yml"
  prometheus_config "$1" "rule_files: [\"$WORK/rules.yml\"]" \
    "alerting: {alertmanagers: [{static_configs: [{targets: [\"127.0.0.1:$APORT\"]}]}]}"
  start_prometheus
}

# notifications: one line per notification received so far, oldest first:
# `receiver status alertname device` (the group's labels; `-` for none).
notifications() {
  [ -s "$ALERTS" ] || return 0
  jq -r '[.receiver, .status, .groupLabels.alertname, (.groupLabels.device // "-")] | join(" ")' "$ALERTS"
}
