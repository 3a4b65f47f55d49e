#!/usr/bin/env bash
# The HTTP listener made safe to expose (--web.config.file, exporter-toolkit
# format), against real peers: a throwaway CA, server and client certificates
# made here with openssl; bcrypt hashes made with htpasswd; a real Prometheus
# scraping reachd over HTTPS with basic_auth and tls_config (up == 1) and
# with a wrong password (up == 0); curl with and without a client certificate
# under RequireAndVerifyClientCert and client_allowed_sans; certificate
# rotation by rewriting the files while reachd runs; a broken web config
# keeping the last good one (and its metric); POST /-/reload refused without
# --web.enable-lifecycle, accepted with it, refused cross-site style; the
# status page in headless Chromium with and without the password.
# Everything listens on and talks to 127.0.0.1 only.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
need openssl htpasswd curl jq prometheus chromium node
need_reachd
NODE_DIR=$ROOT/tests/interop/node
[ -d "$NODE_DIR/node_modules/playwright-core" ] ||
  { echo "missing playwright-core: npm ci --prefix tests/interop/node" >&2; exit 1; }

PKI=$WORK/pki
mkdir -p "$PKI"
# cert NAME CN SAN USAGE: a key and a certificate signed by the test CA.
cert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" \
    -out "$PKI/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" > "$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial \
    -out "$PKI/$1.pem" -days 2 -extfile "$PKI/$1.ext" 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/ca.key" \
  -out "$PKI/ca.pem" -days 2 -subj "/CN=reachd interop CA" 2>/dev/null
cert server1 "reachd first" "IP:127.0.0.1,DNS:localhost" serverAuth
cert server2 "reachd rotated" "IP:127.0.0.1,DNS:localhost" serverAuth
cert client "prometheus" "DNS:prometheus.test" clientAuth
cert stranger "stranger" "DNS:stranger.test" clientAuth
check_out "openssl made a CA, two server and two client certificates" \
  openssl verify -CAfile "$PKI/ca.pem" "$PKI/server1.pem" "$PKI/server2.pem" "$PKI/client.pem" "$PKI/stranger.pem"

PASSWORD="s3cret-$RANDOM-pass"
HASH=$(htpasswd -nbBC 10 "" "$PASSWORD" | tr -d ':\n')
cp "$PKI/server1.pem" "$WORK/server.pem"
cp "$PKI/server1.key" "$WORK/server.key"

web_config() { # $1: extra tls_server_config lines
  cat > "$WORK/web.yml" <<YAML
tls_server_config:
  cert_file: server.pem
  key_file: server.key
$1
http_server_config:
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  prometheus: $HASH
YAML
}
web_config ""

RPORT=$(free_port)
cat > "$WORK/reachd.yaml" <<YAML
listen: 127.0.0.1:$RPORT
log: {format: json, level: info}
shutdown_grace: 1s
defaults:
  icmp: {interval: 1s, timeout: 900ms, count: 1}
devices:
  - {name: lo1, address: 127.0.0.1}
YAML
"$REACHD" run --config "$WORK/reachd.yaml" --web.config.file "$WORK/web.yml" 2> "$WORK/reachd.log" &
PIDS+=("$!")
URL=https://127.0.0.1:$RPORT
C=(curl -s --cacert "$PKI/ca.pem" --max-time 5)
code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@"; }

check "reachd serves HTTPS; /-/healthy needs no password" wait_for 15 bash -c "[ \"\$(curl -s --cacert '$PKI/ca.pem' -o /dev/null -w '%{http_code}' $URL/-/healthy)\" = 200 ]"
check "/-/ready needs no password" test "$(code "$URL/-/ready")" = 200
for path in /metrics / /api/v1/status; do
  check "$path without a password: 401" test "$(code "$URL$path")" = 401
  check "$path with a wrong password: 401" test "$(code -u "prometheus:wrong" "$URL$path")" = 401
  check "$path for an unknown user: 401" test "$(code -u "nobody:$PASSWORD" "$URL$path")" = 401
  check "$path with the password: 200" test "$(code -u "prometheus:$PASSWORD" "$URL$path")" = 200
done
check "a malformed Authorization header: 401" test "$(code -H 'Authorization: Basic !!!' "$URL/metrics")" = 401
check "the hash itself is not a password (CVE-2022-46146)" test "$(code -u "prometheus:$HASH" "$URL/metrics")" = 401
"${C[@]}" -D "$WORK/h401" -o /dev/null "$URL/metrics" || true
check "401 carries WWW-Authenticate: Basic" grep -qi '^www-authenticate: Basic realm=' "$WORK/h401"
"${C[@]}" -D "$WORK/h200" -u "prometheus:$PASSWORD" -o "$WORK/metrics.txt" "$URL/metrics" || true
check "responses carry the configured headers" bash -c "grep -qi '^strict-transport-security: max-age=31536000' '$WORK/h200' && grep -qi '^x-frame-options: deny' '$WORK/h200'"
check "the metrics are there over HTTPS" grep -q '^reachd_web_config_last_reload_successful 1' "$WORK/metrics.txt"
check "plain HTTP to the TLS listener gets no answer" bash -c "! curl -sf --max-time 5 http://127.0.0.1:$RPORT/-/healthy"
check "HTTP/2 is negotiated over TLS (http2 defaults to true)" \
  test "$("${C[@]}" --http2 -o /dev/null -w '%{http_version}' "$URL/-/healthy")" = 2
check "the password never reaches the log" bash -c "! grep -qF -- '$PASSWORD' '$WORK/reachd.log' && ! grep -qF -- '$HASH' '$WORK/reachd.log'"

# POST /-/reload without --web.enable-lifecycle.
"${C[@]}" -u "prometheus:$PASSWORD" -X POST -o "$WORK/reload.txt" -w '%{http_code}' "$URL/-/reload" > "$WORK/reload.code" || true
check "POST /-/reload without --web.enable-lifecycle: 403" test "$(cat "$WORK/reload.code")" = 403
check "...and the body says how to enable it" grep -q -- '--web.enable-lifecycle' "$WORK/reload.txt"

# A real Prometheus: the right password, and a wrong one.
PPORT=$(free_port)
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: reachd
    scheme: https
    tls_config: {ca_file: $PKI/ca.pem}
    basic_auth: {username: prometheus, password: "$PASSWORD"}
    static_configs: [{targets: ["127.0.0.1:$RPORT"]}]
  - job_name: reachd_wrong_password
    scheme: https
    tls_config: {ca_file: $PKI/ca.pem}
    basic_auth: {username: prometheus, password: "not-$PASSWORD"}
    static_configs: [{targets: ["127.0.0.1:$RPORT"]}]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" --log.level=warn 2> "$WORK/prometheus.log" &
PIDS+=("$!")
query() {
  curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" \
    | jq -r '.data.result[0].value[1] // empty'
}
query_is() { [ "$(query "$1")" = "$2" ]; }
check "Prometheus scrapes over HTTPS with basic_auth: up == 1" wait_for 40 query_is 'up{job="reachd"}' 1
check "Prometheus with a wrong password: up == 0" wait_for 20 query_is 'up{job="reachd_wrong_password"}' 0
check "Prometheus reads reachd's own series" wait_for 20 query_is 'reachd_up{job="reachd",device="lo1",protocol="icmp"}' 1

# The status page in headless Chromium, with and without the password.
checks_from node "$NODE_DIR/web-auth.mjs" "$URL/" prometheus "$PASSWORD" lo1

# Certificate rotation: rewrite the files in place; new handshakes get the
# new certificate, without a restart.
subject() {
  openssl s_client -connect "127.0.0.1:$RPORT" -servername localhost -CAfile "$PKI/ca.pem" \
    < /dev/null 2> /dev/null | openssl x509 -noout -subject 2> /dev/null
}
first() { subject | grep -q 'reachd first'; }
check "the first certificate is served" first
cp "$PKI/server2.key" "$WORK/server.key"
cp "$PKI/server2.pem" "$WORK/server.pem"
rotated() { subject | grep -q 'reachd rotated'; }
check "rotation: the rewritten certificate is served, no restart" wait_for 20 rotated
check "rotation: the log says the web config was reloaded" wait_for 5 grep -q 'web config reloaded' "$WORK/reachd.log"

# A broken web config keeps the last good one, says so, and the metric drops.
echo "tls_server_config: {cert_file: server.pem, key_file: server.key, bogus_key: 1}" > "$WORK/web.yml"
metric_is() { "${C[@]}" -u "prometheus:$PASSWORD" "$URL/metrics" > "$WORK/m.txt" && grep -qx "reachd_web_config_last_reload_successful $1" "$WORK/m.txt"; }
check "broken web config: reachd_web_config_last_reload_successful 0" wait_for 20 metric_is 0
check "broken web config: the log names the file, line and column of the unknown key" \
  grep -q 'web.yml:1:[0-9]*: tls_server_config.bogus_key: unknown field' "$WORK/reachd.log"
check "broken web config: the last good one still requires the password" test "$(code "$URL/metrics")" = 401

# Client certificates: RequireAndVerifyClientCert, then client_allowed_sans.
web_config "  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: $PKI/ca.pem"
with_cert() { curl -s --cacert "$PKI/ca.pem" --max-time 5 --cert "$PKI/$1.pem" --key "$PKI/$1.key" -u "prometheus:$PASSWORD" -o /dev/null -w '%{http_code}' "$URL/metrics"; }
# Taken at the next look at the file: from then on, no certificate, no answer.
check "RequireAndVerifyClientCert: without a client certificate, no answer" wait_for 20 bash -c "! curl -s --cacert '$PKI/ca.pem' --max-time 5 -u 'prometheus:$PASSWORD' -o /dev/null -f $URL/metrics"
check "RequireAndVerifyClientCert: with the client certificate, 200" test "$(with_cert client)" = 200
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/self.key" \
  -out "$PKI/self.pem" -days 2 -subj "/CN=self-signed" 2>/dev/null
check "RequireAndVerifyClientCert: a certificate from another CA, no answer" bash -c "! curl -s --cacert '$PKI/ca.pem' --max-time 5 --cert '$PKI/self.pem' --key '$PKI/self.key' -u 'prometheus:$PASSWORD' -o /dev/null -f $URL/metrics"
web_config "  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: $PKI/ca.pem
  client_allowed_sans: [prometheus.test]"
check "client_allowed_sans: a CA-signed client without the SAN is refused" wait_for 20 bash -c "[ \"\$(curl -s --cacert '$PKI/ca.pem' --max-time 5 --cert '$PKI/stranger.pem' --key '$PKI/stranger.key' -u 'prometheus:$PASSWORD' -o /dev/null -w '%{http_code}' $URL/metrics)\" = 000 ]"
check "client_allowed_sans: the client with the SAN, 200" test "$(with_cert client)" = 200

# Lifecycle: a second instance with --web.enable-lifecycle (plain HTTP,
# the default listener's way).
LPORT=$(free_port)
sed "s/^listen: .*/listen: 127.0.0.1:$LPORT/" "$WORK/reachd.yaml" > "$WORK/lifecycle.yaml"
"$REACHD" run --config "$WORK/lifecycle.yaml" --web.enable-lifecycle 2> "$WORK/lifecycle.log" &
PIDS+=("$!")
LURL=http://127.0.0.1:$LPORT
check "lifecycle instance is ready" wait_for 15 curl -sf "$LURL/-/ready"
post() { curl -s --max-time 10 -X POST -o "$WORK/post.txt" -w '%{http_code}' "$@" "$LURL/-/reload"; }
check "POST /-/reload with --web.enable-lifecycle: 200" test "$(post)" = 200
check "...and it reloaded" grep -q 'configuration reloaded' "$WORK/post.txt"
check "cross-site: with an Origin header, 403" test "$(post -H 'Origin: https://evil.example')" = 403
check "cross-site: a form post (urlencoded), 403" test "$(post -d 'x=1')" = 403
check "cross-site: a form post (text/plain), 403" test "$(post -H 'Content-Type: text/plain' --data-binary 'x')" = 403
check "cross-site: Sec-Fetch-Site: cross-site, 403" test "$(post -H 'Sec-Fetch-Site: cross-site')" = 403
check "GET /-/reload is not a reload (405)" test "$(curl -s -o /dev/null -w '%{http_code}' "$LURL/-/reload")" = 405

summary
