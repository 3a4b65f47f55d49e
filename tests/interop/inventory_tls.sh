#!/usr/bin/env bash
# Interop: a remote inventory source over TLS, served by OpenSSL's own
# server (`openssl s_server -WWW`, a real TLS peer) on loopback: reachd
# verifies the certificate by default and says why it refuses one;
# `ca_file` trusts a private CA; `tls_insecure_skip_verify` is the lab's way
# out; a certificate for another name is refused even with its CA.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
cd "$ROOT"
need openssl jq
need_reachd

cd "$WORK"
# A private CA, and a server certificate for 127.0.0.1 signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=reachd test CA" \
  -keyout ca.key -out ca.pem 2> /dev/null
mk_cert() { # NAME SAN
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr" 2> /dev/null
  printf 'subjectAltName=%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem" 2> /dev/null
}
mk_cert good IP:127.0.0.1
mk_cert other DNS:sd.example.net
printf '[{"targets": ["127.0.0.5"], "labels": {"__meta_netbox_name": "r1", "site": "lab"}}]' > sd.json

serve() { # CERT: serves it on a new port, in $PORT (not in a subshell:
  # the server's pid must reach PIDS, which ends it on exit)
  PORT=$(free_port)
  openssl s_server -quiet -accept "127.0.0.1:$PORT" -cert "$1.pem" -key "$1.key" -WWW \
    > /dev/null 2>&1 &
  PIDS+=("$!")
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" || { echo "s_server did not start" >&2; exit 1; }
}
serve good; GOOD=$PORT
serve other; OTHER=$PORT

validate() { # PORT EXTRA-YAML -> output, and status in $WORK/status
  printf 'inventory:\n  - http_sd: {url: "https://127.0.0.1:%s/sd.json", name: sd, timeout: 5s%s}\n' \
    "$1" "$2" > cfg.yaml
  set +e
  "$REACHD" validate --config cfg.yaml > v.out 2>&1
  echo $? > status
  set -e
}
ok_with() { validate "$@"; [ "$(cat status)" = 0 ] && grep -q "http_sd sd: 1 devices" v.out; }
refused_with() { # PORT EXTRA WHY
  validate "$1" "$2"
  [ "$(cat status)" = 2 ] && grep -q "^http_sd sd: GET https://127.0.0.1:$1/sd.json: .*$3" v.out \
    || { cat v.out; false; }
}

check_out "an unknown CA is refused, saying so" refused_with "$GOOD" "" "certificate"
check_out "ca_file trusts a private CA" ok_with "$GOOD" ", ca_file: ca.pem"
check_out "a certificate for another name is refused, even with its CA" \
  refused_with "$OTHER" ", ca_file: ca.pem" "certificate"
check_out "tls_insecure_skip_verify accepts it (a lab's way out)" \
  ok_with "$OTHER" ", tls_insecure_skip_verify: true"
printf 'not a certificate\n' > bad.pem
validate "$GOOD" ", ca_file: bad.pem"
check_out "a ca_file with no certificate is an error naming it" grep -q "ca_file bad.pem: no certificate in it" v.out
summary
