#!/usr/bin/env bash
# The Grafana dashboard and the Prometheus rules in dashboards/, checked with
# the real programs: `promtool check rules`, the promtool unit tests (every
# alert has a firing and a not-firing case), the dashboard's JSON against what
# provisioning needs (ids, ${datasource} everywhere, refIds, variables), the
# dashboard against Grafana's own schema: the TypeScript types of
# @grafana/schema (version pinned in node/package.json; Grafana generates them
# from its CUE dashboard kind and panel plugin schemas), checked by `tsc
# --strict` through node/dashboard-schema.mjs (the dashboard's structure, and
# each panel's options and custom field config against its panel type's
# options types), with negative controls (mutated copies that must be
# rejected: misspelled keys at the top, in a panel and in timeseries options,
# a string gridPos.h, an unknown draw style, an out-of-enum number). The keys
# the schema's types lack that are accepted, and what the types cannot check
# (query targets, override values), are listed in that script. Grafana itself
# is not run: this checks its schema, not its loader (which also migrates
# older forms). Then every metric named in any PromQL of the dashboard or the
# rules against the README's metrics table and against what a running reachd
# exports; then a real Prometheus (loopback, temporary directory, 1 s scrapes)
# scrapes `reachd run` (three loopback ICMP targets, lo2 behind lo1 as its
# parent, and one `.invalid` target that is down), evaluates every panel and
# variable query of the dashboard (variables as `.*` and as real values) and
# loads the rules: every rule group evaluates without error and the down
# target's alerts go pending. Everything listens on and talks to 127.0.0.1 only.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
DASH=$ROOT/dashboards/reachd.json
RULES=$ROOT/dashboards/reachd.rules.yml
need prometheus promtool curl jq python3
need_reachd

# Run a python check script ($1, then its arguments) that prints
# "ok <what>" / "FAIL <what>" lines.
pycheck() { checks_from python3 -c "$@"; }

# ---------------------------------------------------------------- static checks
check_out "promtool check rules" promtool check rules "$RULES"
check_out "promtool test rules dashboards/tests/*.yml" promtool test rules "$ROOT"/dashboards/tests/*.yml

# Every alert has a firing case (`alertname: X` followed by `exp_alerts:`) and
# a not-firing case (`{eval_time: T, alertname: X}`: no alerts expected).
pycheck '
import re, sys, glob
rules = open(sys.argv[1]).read()
alerts = re.findall(r"^\s*- alert:\s*(\w+)", rules, re.M)
tests = "".join(open(f).read() for f in sorted(glob.glob(sys.argv[2] + "/*.yml")))
print(("ok" if alerts else "FAIL") + " the rules define %d alerts" % len(alerts))
for a in alerts:
    firing = re.search(r"alertname:\s*%s\s*\n\s*exp_alerts:\s*\n\s*- exp_labels" % a, tests)
    quiet = re.search(r"\{\s*eval_time:\s*\w+,\s*alertname:\s*%s\s*\}" % a, tests)
    print(("ok" if firing and quiet else "FAIL") + " %s has unit tests: firing %s, not firing %s" % (a, bool(firing), bool(quiet)))
' "$RULES" "$ROOT/dashboards/tests"

# The dashboard: what Grafana needs to load and provision it.
pycheck '
import json, re, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("FAIL dashboard is valid JSON: %s" % e); sys.exit()
print("ok dashboard is valid JSON")
def want(what, cond): print(("ok " if cond else "FAIL ") + what)
want("title, uid and a numeric schemaVersion", isinstance(d.get("title"), str) and isinstance(d.get("uid"), str) and isinstance(d.get("schemaVersion"), int))
want("no dashboard id (provisioning assigns it) and no __inputs (no import-time datasource)", d.get("id") is None and "__inputs" not in d)
panels = d.get("panels")
want("panels is a non-empty list", isinstance(panels, list) and len(panels) > 0)
panels = panels or []
allp = panels + [q for p in panels for q in p.get("panels", [])]
ids = [p.get("id") for p in allp]
want("%d panels, every one with an integer id, all unique" % len(ids), all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids))
want("every panel has a type, a title and a gridPos within 24 columns",
     all(p.get("type") and p.get("title") and {"x", "y", "w", "h"} <= set(p.get("gridPos", {})) and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in allp))
tl = d.get("templating", {}).get("list")
want("templating.list is a list", isinstance(tl, list))
tl = tl or []
names = {v.get("name") for v in tl}
dsv = [v for v in tl if v.get("name") == "datasource"]
want("a `datasource` variable of type datasource for prometheus", len(dsv) == 1 and dsv[0].get("type") == "datasource" and dsv[0].get("query") == "prometheus")
want("variables protocol, site and device exist", {"protocol", "site", "device"} <= names)
DS = ("${datasource}", "$datasource")
def ds_ok(ds): return isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") in DS
bad = [p["title"] for p in allp if not ds_ok(p.get("datasource"))]
want("every panel'"'"'s datasource is ${datasource}" + (": not %s" % bad if bad else ""), not bad)
bad = ["%s/%s" % (p["title"], t.get("refId")) for p in allp for t in p.get("targets", []) if not ds_ok(t.get("datasource"))]
want("every query'"'"'s datasource is ${datasource}" + (": not %s" % bad if bad else ""), not bad)
bad = [v["name"] for v in tl if v.get("type") == "query" and not ds_ok(v.get("datasource"))]
want("every query variable uses ${datasource}" + (": not %s" % bad if bad else ""), not bad)
uids = set(re.findall(r"\"uid\":\s*\"([^\"]*)\"", json.dumps(d))) - {"${datasource}", "-- Grafana --", d.get("uid")}
want("no hard-coded datasource uid" + (": %s" % uids if uids else ""), not uids)
qp = [p for p in allp if p.get("type") != "row"]
want("every non-row panel has queries, each with a refId (unique in its panel) and an expr",
     all(p.get("targets") and all(t.get("expr") and t.get("refId") for t in p["targets"]) and
         len({t["refId"] for t in p["targets"]}) == len(p["targets"]) for p in qp))
exprs = [t["expr"] for p in qp for t in p["targets"]] + [v["query"] for v in tl if v.get("type") == "query"]
used = set(re.findall(r"\$\{?(\w+)", " ".join(exprs)))
undef = used - names - {"__rate_interval", "__range", "__interval", "__range_s", "__interval_ms"}
want("every $variable used in a query is defined" + (": %s" % undef if undef else ""), not undef)
' "$DASH"

# The dashboard against Grafana's own schema: node/dashboard-schema.mjs
# writes it as an object literal typed with @grafana/schema's Dashboard (the
# TypeScript Grafana generates from its dashboard kind), each panel's options
# and custom field config typed with that panel type's own options types, and
# runs `tsc --noEmit --strict` on it. The version is the one pinned in
# node/package.json, installed by `npm ci --prefix tests/interop/node`.
NODE_DIR=$ROOT/tests/interop/node
SCHEMA_VERSION=$(jq -r '.devDependencies["@grafana/schema"]' "$NODE_DIR/package.json")
SCHEMA_CHECK="the dashboard type-checks against Grafana's schema (@grafana/schema $SCHEMA_VERSION)"
schema_setup=""
if ! command -v node >/dev/null; then
  schema_setup="node is not installed"
elif [ ! -d "$NODE_DIR/node_modules/@grafana/schema" ] || [ ! -d "$NODE_DIR/node_modules/typescript" ]; then
  schema_setup="$NODE_DIR/node_modules is missing: run npm ci --prefix tests/interop/node"
elif [ "$(jq -r .version "$NODE_DIR/node_modules/@grafana/schema/package.json")" != "$SCHEMA_VERSION" ]; then
  schema_setup="node_modules has another @grafana/schema than the pinned $SCHEMA_VERSION: run npm ci --prefix tests/interop/node"
fi
if [ -n "$schema_setup" ]; then
  no "$SCHEMA_CHECK: $schema_setup"
  no "negative controls of the schema check: not run ($schema_setup)"
else
  check_out "$SCHEMA_CHECK" node "$NODE_DIR/dashboard-schema.mjs" "$DASH"
  # Negative controls: mutated copies of the dashboard must be rejected (exit
  # status 1, not a crash) with the error expected, so the check above can fail.
  NEG=0
  rejected() { # WHAT JQ-MUTATION EXPECTED-ERROR (grep -E)
    local rc=0 f=$WORK/neg-$((NEG += 1))
    jq "$2" "$DASH" > "$f.json" || { no "the schema check rejects $1: the jq mutation failed"; return; }
    node "$NODE_DIR/dashboard-schema.mjs" "$f.json" > "$f.out" 2>&1 || rc=$?
    if [ "$rc" -eq 1 ] && grep -qE -- "$3" "$f.out"; then
      ok "the schema check rejects $1"
      grep -E -- "$3" "$f.out" | head -1 | sed -e "s|^$f.json: ||" | cut -c1-160 | sed 's/^/     /'
    else
      no "the schema check rejects $1 (exit $rc, expected 1 and /$3/)"
      sed 's/^/     /' "$f.out"
    fi
  }
  TS='first(.panels[] | (., .panels[]?) | select(.type == "timeseries"))'
  rejected "a misspelled panel field (gridpos)" \
    "($TS) |= (.gridpos = .gridPos | del(.gridPos))" "gridpos \(panel .*'\"gridpos\"' does not exist in type"
  rejected "a misspelled top-level field (graphtooltip)" \
    '.graphtooltip = .graphTooltip | del(.graphTooltip)' "\\\$\.graphtooltip: TS2353: Object literal may only specify known properties"
  rejected "a string gridPos.h" \
    '.panels[1].gridPos.h = "8"' "\\\$\.panels\[1\]\.gridPos\.h \(panel .*Type 'string' is not assignable to type 'number'"
  rejected "an unknown key in a timeseries panel's options (legends)" \
    "($TS).options |= (.legends = .legend | del(.legend))" "options\.legends \(panel .*timeseries\).*'\"legends\"' does not exist in type"
  rejected "an unknown key deep in a timeseries panel's options (legend.displaymode)" \
    "($TS).options.legend.displaymode = \"list\"" "options\.legend\.displaymode \(panel .*'\"displaymode\"' does not exist in type"
  rejected "a timeseries draw style that is not one (custom.drawStyle \"lines\")" \
    "($TS).fieldConfig.defaults.custom.drawStyle = \"lines\"" "custom\.drawStyle \(panel .*Type '\"lines\"' is not assignable to type '\"line\" \| \"bars\" \| \"points\""
  rejected "a number outside a numeric enum (graphTooltip 3)" \
    '.graphTooltip = 3' "\\\$\.graphTooltip: TS2322: Type '3' is not assignable"
fi

# The Alertmanager snippet in dashboards/README.md (inhibit rules) is valid.
if command -v amtool >/dev/null; then
  awk '/^# alertmanager.yml/ {f = 1} f && /^```/ {f = 0} f' "$ROOT/dashboards/README.md" > "$WORK/alertmanager.yml"
  printf '  receiver: default\nreceivers:\n  - name: default\n' >> "$WORK/alertmanager.yml"
  check_out "amtool check-config: the README's Alertmanager inhibit rules" \
    bash -c "grep -q inhibit_rules '$WORK/alertmanager.yml' && amtool check-config '$WORK/alertmanager.yml'"
else
  echo "skip - amtool not installed: the README's Alertmanager snippet is not checked"
fi

# PromQL expressions of the dashboard (panels, annotations, variables) -> $WORK/dash.exprs, one JSON object per line.
jq -c '(.panels[] | (., (.panels // [])[]) | select(.targets) | .title as $t | .targets[] | {title: $t, ref: .refId, expr})
       , (.annotations.list[] | select(.expr) | {title: ("annotation " + .name), ref: "", expr})
       , (.templating.list[] | select(.type == "query") | {title: ("variable " + .name), ref: "", expr: .query})' \
  "$DASH" > "$WORK/dash.exprs"
check "the dashboard has PromQL queries ($(wc -l < "$WORK/dash.exprs"))" test -s "$WORK/dash.exprs"

# Metric names in PromQL. Strings, label matchers, ranges and by/on(...) lists
# are dropped; what is left that is not a function call or a keyword is a
# metric name. label_values(selector, label) counts as a function.
cat > "$WORK/names.py" <<'PY'
import re
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "Inf", "NaN"}
def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    out = set()
    for m in re.finditer(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or m.group() in KEYWORDS:
            continue
        out.add(m.group())
    return out
def readme_metrics(path):
    """name -> type from the table in the README's "## Metrics" section."""
    table, section = {}, False
    for line in open(path):
        if line.startswith("## "):
            section = line.strip() == "## Metrics"
        m = section and re.match(r"\|\s*`([a-zA-Z_:*]+)`\s*\|\s*(\w*)\s*\|", line)
        if m:
            table[m.group(1)] = m.group(2)
    return table
def allowed_from(types):
    """Sample names: a histogram's _bucket/_sum/_count, the rest as is; `x_*` is a prefix."""
    names, prefixes = set(), []
    for n, t in types.items():
        if n.endswith("*"):
            prefixes.append(n[:-1])
        elif t == "histogram":
            names |= {n + s for s in ("_bucket", "_sum", "_count")}
        else:
            names.add(n)
    return names, prefixes
PY

pycheck '
import json, re, sys
sys.path.insert(0, sys.argv[1]); from names import *
types = readme_metrics(sys.argv[2])
print(("ok" if "reachd_up" in types else "FAIL") + " the README metrics table lists %d metrics" % len(types))
allowed, prefixes = allowed_from(types)
allowed |= {"up"}
records = set(re.findall(r"^\s*- record:\s*(\S+)", open(sys.argv[4]).read(), re.M))
allowed |= records
rules = open(sys.argv[4]).read()
exprs = [json.loads(l) for l in open(sys.argv[3])]
# The rules: the expr of each rule (single line or a | block) and the metric names in annotation templates.
rexprs, cur = [], None
for line in rules.splitlines():
    m = re.match(r"^(\s*)expr:\s*(\|)?\s*(.*)$", line)
    if m:
        cur = None
        if m.group(2): cur = [len(m.group(1)), []]; rexprs.append(cur[1])
        else: rexprs.append([m.group(3)])
        continue
    if cur is not None:
        if line.strip() and len(line) - len(line.lstrip()) <= cur[0]: cur = None
        else: cur[1].append(line)
rexprs = [" ".join(x) for x in rexprs]
used = {}
for x in exprs:
    for n in metric_names(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", x["expr"])):
        used.setdefault(n, set()).add("dashboard: " + x["title"])
for x in rexprs:
    for n in metric_names(x):
        used.setdefault(n, set()).add("rules")
for n in re.findall(r"\b((?:reachd|process)_[a-z_]+)\b", rules):
    used.setdefault(n, set()).add("rule annotations")
print(("ok" if len(rexprs) >= 10 else "FAIL") + " found %d rule expressions" % len(rexprs))
unknown = {n: w for n, w in used.items() if n not in allowed and not any(n.startswith(p) for p in prefixes)}
for n, w in sorted(unknown.items()):
    print("FAIL metric %s (used in %s) is not in the README metrics table" % (n, ", ".join(sorted(w))))
print(("ok" if not unknown else "FAIL") + " all %d metric names in the dashboard and rules are in the README metrics table" % len(used))
with open(sys.argv[5], "w") as f:
    f.write("\n".join(sorted(used)) + "\n")
' "$WORK" "$ROOT/README.md" "$WORK/dash.exprs" "$RULES" "$WORK/used.names"

# --------------------------------------------------- reachd + a real Prometheus
RPORT=$(free_port)
cat > "$WORK/reachd.yaml" <<YAML
listen: 127.0.0.1:$RPORT
log: {format: json, level: info}
shutdown_grace: 2s
defaults:
  icmp: {interval: 1s, timeout: 900ms, count: 2, spacing: 100ms}
devices:
  - {name: lo1, address: 127.0.0.1, platform: cisco_iosxe, labels: {site: here, role: core}}
  # lo2 is behind lo1: reachd exports reachd_parent_down for it, which the
  # rules name (devices without parents have no such series).
  - {name: lo2, address: 127.0.0.2, platform: cisco_ios, parents: [lo1], labels: {site: here, role: access}}
  - {name: gone, address: gone.invalid, platform: cisco_iosxr, labels: {site: there, role: edge}}
# An inventory file: its source's series (reachd_inventory_source_*) are
# exported, as the rules' ReachdInventorySourceDown needs.
inventory: [more.yaml]
YAML
cat > "$WORK/more.yaml" <<YAML
- {name: lo3, address: 127.0.0.3, platform: cisco_ios, labels: {site: there, role: access}}
YAML
"$REACHD" run --config "$WORK/reachd.yaml" 2> "$WORK/reachd.log" &
PIDS+=("$!")

check "reachd becomes ready" wait_for 15 curl -sf "http://127.0.0.1:$RPORT/-/ready"
check "reachd has checked all four targets" wait_for 15 bash -c \
  "curl -sf http://127.0.0.1:$RPORT/metrics | grep -c '^reachd_last_check_timestamp_seconds{' | grep -qx 4"

# Every metric the dashboard and rules name is exported by the running reachd
# (or is Prometheus' `up`, or a recording rule).
curl -sf "http://127.0.0.1:$RPORT/metrics" > "$WORK/metrics.txt"
pycheck '
import re, sys
exported = set()
for line in open(sys.argv[1]):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        exported |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")} if m.group(2) == "histogram" else {m.group(1)}
missing = [n for n in open(sys.argv[2]).read().split() if n not in exported and n != "up" and ":" not in n]
for n in missing: print("FAIL %s is not in the running reachd'"'"'s /metrics" % n)
print(("ok" if not missing else "FAIL") + " every metric the dashboard and rules name is exported by the running reachd")
' "$WORK/metrics.txt" "$WORK/used.names"

prometheus_config "$RPORT" "rule_files: [\"$RULES\"]"
check_out "promtool check config (with the rule file)" promtool check config "$WORK/prometheus.yml"
start_prometheus

API=http://127.0.0.1:$PPORT/api/v1
query() { curl -s --get "$API/query" --data-urlencode "query=$1"; }
first() { query "$1" | jq -r '.data.result[0].value[1] // empty'; }
first_is() { [ "$(first "$1")" = "$2" ]; }
check "Prometheus scrapes reachd" wait_for 30 first_is 'up{job="reachd"}' 1
# Enough samples for rate() and changes() over the substituted ranges.
check "Prometheus has 8 scrapes of reachd" wait_for 30 first_is 'count_over_time(up{job="reachd"}[1m]) > bool 7' 1

# Every dashboard query, twice: variables as `.*` (All), then as real values.
# An empty result fails in the `.*` pass unless the panel is one that is empty
# with ICMP targets only (SSH/Telnet panels) or with nothing flapping.
EMPTY_OK='^(Login phase durations|Slowest logins|Phase durations of the slowest logins|Flapping targets|annotation Configuration reloads)'
instance="127.0.0.1:$RPORT"
run_queries() { # $1: pass name, then sed substitutions for the variables
  local round=$1 title ref expr q body status n; shift
  while IFS= read -r line; do
    title=$(jq -r .title <<<"$line"); ref=$(jq -r .ref <<<"$line"); expr=$(jq -r .expr <<<"$line")
    q=$(sed -e 's/\$__rate_interval/1m/g' -e 's/\$__interval/5s/g' -e 's/\$__range/1h/g' "$@" <<<"$expr")
    if [[ $q == label_values\(* ]]; then # label_values(selector, label) -> count by (label) (selector)
      q=$(sed -E 's/^label_values\((.*), *([a-zA-Z_]+)\)$/count by (\2) (\1)/' <<<"$q")
    fi
    body=$(query "$q")
    status=$(jq -r '.status // "no answer"' <<<"$body" 2>/dev/null || echo "not JSON")
    n=$(jq -r '.data.result | length' <<<"$body" 2>/dev/null || echo 0)
    if [ "$status" != success ]; then
      no "[$round] $title $ref: $(jq -r '.error // empty' <<<"$body" 2>/dev/null || echo "$body")"
      echo "     query: $q"
    elif [ "$round" = all ] && [ "$n" -eq 0 ] && ! [[ $title =~ $EMPTY_OK ]]; then
      no "[$round] $title $ref: no data"
      echo "     query: $q"
    else
      ok "[$round] $title $ref: $n series"
    fi
  done < "$WORK/dash.exprs"
}
run_queries all -e 's/\$instance/.*/g' -e 's/\$protocol/.*/g' -e 's/\$site/.*/g' -e 's/\$device/.*/g'
run_queries one -e "s/\\\$instance/$instance/g" -e 's/\$protocol/icmp/g' -e 's/\$site/here/g' -e 's/\$device/lo1/g'

# What the dashboard's main table says about the down target.
down_table=$(jq -r '.panels[] | select(.title == "Down now") | .targets[0].expr' "$DASH" \
  | sed -e 's/\$[a-z_]*/.*/g')
check "the down table shows gone: reason dns, phase resolve, site there" wait_for 5 bash -c \
  "curl -s --get '$API/query' --data-urlencode 'query=$down_table' \
   | jq -e '.data.result | length == 1 and .[0].metric.device == \"gone\" and .[0].metric.reason == \"dns\" and .[0].metric.phase == \"resolve\" and .[0].metric.site == \"there\"'"

# The rules, loaded into the real Prometheus: every rule evaluated, no errors.
rules_healthy() {
  curl -s "$API/rules" > "$WORK/rules.json"
  jq -e '[.data.groups[].rules[]] | length >= 16 and all(.health == "ok")' "$WORK/rules.json" >/dev/null
}
if wait_for 20 rules_healthy; then
  ok "all $(jq '[.data.groups[].rules[]] | length' "$WORK/rules.json") rules in $(jq '.data.groups | length' "$WORK/rules.json") groups evaluate without error"
else
  no "rule groups healthy"
  jq -r '.data.groups[]?.rules[]? | select(.health != "ok") | "     \(.name): \(.health) \(.lastError // "")"' "$WORK/rules.json"
fi
check "the recording rules have data" first_is 'reachd:targets_up:sum{protocol="icmp"}' 3
check "lo2 is behind lo1, which answers: reachd_parent_down 0" wait_for 10 first_is 'reachd_parent_down{device="lo2"}' 0
check "no device behind a down parent: reachd:devices_behind_down_parent:sum 0" \
  wait_for 10 first_is 'reachd:devices_behind_down_parent:sum' 0
pending() { first_is "count(ALERTS{alertname=\"$1\", device=\"gone\"})" 1; }
check "ReachdTargetDown is pending for gone" wait_for 10 pending ReachdTargetDown
check "ReachdDeviceUnreachable is pending for gone" wait_for 10 pending ReachdDeviceUnreachable
check "no device alert for the devices that answer" \
  test -z "$(first 'count(ALERTS{device=~"lo[123]"})')"

summary
