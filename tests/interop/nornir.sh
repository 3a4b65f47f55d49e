#!/usr/bin/env bash
# Interop: reachd's reading of Nornir SimpleInventory files against the real
# Python `nornir` package (PyPI, 3.x). For each project (the example
# config/nornir/, and a richer one written here: nested groups, a diamond,
# group order, defaults, nulls, connection options, telnet platforms, data
# labels, `reachd:` blocks), nornir's SimpleInventory loads the files and
# prints, host by host, what reachd must make of them by its documented
# mapping (src/config/nornir.rs) over nornir's own resolution: address,
# port, username, platform, whether a password and an enable secret are
# set, labels and checks. `reachd inventory --format json` prints reachd's
# view; any difference is printed and fails the test. Nothing is sent to
# any network; no name is resolved.
#
#   bash tests/interop/nornir.sh
#
# Installs nornir into a venv under ${REACHD_LAB_CACHE:-/var/cache/reachd-lab}
# (reused when present). Run by .ci/run after `cargo build`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
cd "$ROOT"
need python3
need_reachd

VENV=${REACHD_LAB_CACHE:-/var/cache/reachd-lab}/nornir-venv
if ! "$VENV/bin/python" -c 'import nornir' 2>/dev/null; then
  echo "installing nornir into $VENV"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'nornir>=3,<4'
fi
echo "nornir $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("nornir"))')"

# The richer project.
P=$WORK/rich
mkdir -p "$P"
cat > "$P/hosts.yaml" <<'EOF'
core1:
  hostname: 192.0.2.1
  groups: [fra1, ios]
  data:
    role: core
    rack: 12
    monitored: true
    owner: null
    vlans: [10, 20]
    "not-a-label": x
    device: reserved-name
core2:
  hostname: 192.0.2.2
  groups: [ios, fra1]
  platform: null
  username: core2-user
edge1:
  hostname: edge1.example.net
  groups: [ams1, eos]
  port: 2222
  connection_options:
    scrapli:
      extras: {auth_secondary: eos-host-enable}
edge2:
  hostname: 192.0.2.4
  groups: [eos]
  connection_options:
    netmiko:
      extras: {global_delay_factor: 2}
access1:
  hostname: 192.0.2.5
  groups: [ams1, ios_telnet]
  data:
    site: ams1-cage3
oob1:
  hostname: 192.0.2.6
  groups: [diamond]
  data:
    reachd:
      checks: [icmp]
napalm1:
  hostname: 192.0.2.7
  groups: [junos]
blocked1:
  hostname: 192.0.2.8
  groups: [ios]
  data:
    reachd:
      checks: [icmp, ssh]
      username: block-user
      labels: {tier: gold}
      ssh: {port: 830}
r9.example.net: {}
EOF
cat > "$P/groups.yaml" <<'EOF'
europe:
  data:
    region: eu
    site: europe
fra1:
  groups: [europe]
  data:
    site: fra1
ams1:
  groups: [europe]
  data:
    site: ams1
ios:
  platform: cisco_ios
  connection_options:
    netmiko:
      extras: {secret: ios-enable}
eos:
  platform: arista_eos
  username: eos-admin
  connection_options:
    scrapli:
      extras: {auth_secondary: eos-enable}
    netmiko:
      port: 8022
ios_telnet:
  groups: [ios]
  platform: cisco_ios_telnet
  port: 2323
left:
  groups: [top]
  data: {side: left}
right:
  groups: [top]
  username: right-user
  data: {side: right}
top:
  username: top-user
  platform: top_os
  data: {side: top, tier: top}
diamond:
  groups: [left, right]
junos:
  platform: juniper_junos
  connection_options:
    napalm:
      extras:
        optional_args: {secret: junos-enable}
EOF
cat > "$P/defaults.yaml" <<'EOF'
username: netops
password: defaults-password
data:
  managed_by: nornir
  region: unknown
EOF

# nornir's view, mapped by reachd's documented rules: one JSON object a host.
cat > "$WORK/nornir_view.py" <<'EOF'
import json, re, sys
from nornir.plugins.inventory.simple import SimpleInventory

hosts, groups, defaults = sys.argv[1:4]
inv = SimpleInventory(host_file=hosts, group_file=groups, defaults_file=defaults).load()
RESERVED = {"device", "protocol", "reason", "phase", "address", "platform"}

def label_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    return None

for name, h in inv.hosts.items():
    data = h.extended_data()
    block = data.get("reachd") or {}
    conn = {c: h.get_connection_parameters(c) for c in ("netmiko", "scrapli", "napalm")}
    def attr(a):
        v = getattr(h, a)  # nornir: host, extended groups, defaults
        if v is None and a in ("username", "password", "port"):
            v = next((getattr(conn[c], a) for c in ("netmiko", "scrapli")
                      if getattr(conn[c], a) is not None), None)
        return v
    platform = block.get("platform") or h.platform
    telnet = bool(platform) and platform.endswith("_telnet")
    login = "telnet" if telnet else "ssh"
    enable = [(conn["netmiko"].extras or {}).get("secret"),
              (conn["scrapli"].extras or {}).get("auth_secondary"),
              ((conn["napalm"].extras or {}).get("optional_args") or {}).get("secret")]
    labels = {}
    for k, v in data.items():
        lv = label_value(v)
        if (k != "reachd" and lv is not None and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)
                and not k.startswith("__") and k not in RESERVED and len(k) <= 256
                and len(lv) <= 256):
            labels[k] = lv
    labels.update(block.get("labels") or {})
    if platform:
        labels["platform"] = platform
    checks = block.get("checks") or ["icmp", login]
    view = {
        "name": name,
        "address": block.get("address") or h.hostname or name,
        "labels": labels,
        "checks": sorted(checks),
    }
    if login in checks:
        view["login"] = {
            "protocol": login,
            "port": (block.get(login) or {}).get("port") or attr("port") or (23 if telnet else 22),
            "username": block.get("username") or attr("username"),
            "platform": platform,
            "password_set": (block.get("password") or attr("password")) is not None,
            "enable_password_set": bool(block.get("secondary") or next((s for s in enable if s), None)),
        }
    print(json.dumps(view, sort_keys=True))
EOF

# reachd's view in the same shape, then host by host.
cat > "$WORK/compare.py" <<'EOF'
import json, sys

nornir = [json.loads(l) for l in open(sys.argv[1])]
reachd = {}
for l in open(sys.argv[2]):
    d = json.loads(l)
    view = {"name": d["name"], "address": d["address"], "labels": d["labels"],
            "checks": sorted(c["protocol"] for c in d["checks"])}
    for c in d["checks"]:
        if c["protocol"] in ("ssh", "telnet"):
            view["login"] = {k: c.get(k) for k in
                             ("protocol", "port", "username", "platform", "password_set",
                              "enable_password_set")}
    reachd[d["name"]] = view
for n in nornir:
    r = reachd.pop(n["name"], None)
    if r == n:
        print(f"ok {n['name']}: {json.dumps(n, sort_keys=True)}")
    else:
        print(f"FAIL {n['name']}: nornir={json.dumps(n, sort_keys=True)} reachd={json.dumps(r, sort_keys=True)}")
for name in reachd:
    print(f"FAIL {name}: only reachd has it")
EOF

compare() { # what hosts.yaml [reachd args…]
  local what=$1 dir=$2; shift 2
  if ! "$VENV/bin/python" "$WORK/nornir_view.py" "$dir/hosts.yaml" "$dir/groups.yaml" \
      "$dir/defaults.yaml" > "$WORK/$what.nornir.json" 2> "$WORK/$what.nornir.err"; then
    no "$what: nornir could not load it"; sed 's/^/     /' "$WORK/$what.nornir.err"; return
  fi
  if ! "$REACHD" inventory --inventory "$dir/hosts.yaml" --format json \
      > "$WORK/$what.reachd.json" 2> "$WORK/$what.reachd.err"; then
    no "$what: reachd inventory failed"; sed 's/^/     /' "$WORK/$what.reachd.err"; return
  fi
  checks_from "$VENV/bin/python" "$WORK/compare.py" "$WORK/$what.nornir.json" "$WORK/$what.reachd.json"
  # Never a secret in reachd's output.
  local secret
  for secret in defaults-password ios-enable eos-enable eos-host-enable junos-enable \
      enable-secret change-me; do
    if grep -qF -- "$secret" "$WORK/$what.reachd.json"; then no "$what: a secret appears in reachd's output"; fi
  done
}

compare example "$ROOT/config/nornir"
compare rich "$P"
summary
