#!/usr/bin/env bash
# The Debian package: `cargo deb` builds it, `dpkg -i` installs it, the
# installed configuration validates, the installed unit verifies, and
# `dpkg --purge` removes it all again. Root only (it installs a package).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
cd "$ROOT"
if [[ $EUID -ne 0 ]]; then echo "needs root (dpkg -i)" >&2; exit 1; fi
cargo deb --version >/dev/null 2>&1 || { echo "missing tool: cargo-deb (cargo install cargo-deb)" >&2; exit 1; }
trap 'dpkg --purge reachd >/dev/null 2>&1 || true; cleanup' EXIT

deb=$(cargo deb --locked 2>/dev/null | tail -1)
check "cargo deb builds a package ($deb)" test -f "$deb"
check "dpkg -i installs it" dpkg -i "$deb"
for f in /usr/bin/reachd /etc/reachd/reachd.yaml /lib/systemd/system/reachd.service \
         /usr/share/doc/reachd/README.md /usr/share/doc/reachd/examples/reachd.example.yaml; do
  check "installs $f" test -e "$f"
done
for f in /usr/share/reachd/dashboards/reachd.json /usr/share/reachd/dashboards/reachd.rules.yml; do
  if [ -e "$ROOT/dashboards/$(basename "$f")" ]; then check "installs $f" test -e "$f"; fi
done
check "the installed config validates" /usr/bin/reachd validate --config /etc/reachd/reachd.yaml
check "installs the web config example, commented (plain HTTP until enabled)" \
  bash -c "test -e /etc/reachd/web-config.yml && ! grep -q '^[a-z]' /etc/reachd/web-config.yml"
check "the web config example is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' reachd | grep -q /etc/reachd/web-config.yml"
printf 'web_config: web-config.yml\ndevices: [{name: lo, address: 127.0.0.1}]\n' > "$WORK/with-web.yaml"
cp /etc/reachd/web-config.yml "$WORK/web-config.yml"
check "a config naming the installed web config example validates" /usr/bin/reachd validate --config "$WORK/with-web.yaml"
check "the installed config is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' reachd | grep -q /etc/reachd/reachd.yaml"
check "the installed unit verifies" systemd-analyze verify /lib/systemd/system/reachd.service
check "reachd --version runs" /usr/bin/reachd --version
dpkg --purge reachd >/dev/null
check "dpkg --purge removes the binary" test ! -e /usr/bin/reachd
check "dpkg --purge removes the config" test ! -e /etc/reachd/reachd.yaml

summary
