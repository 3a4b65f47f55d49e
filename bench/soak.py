#!/usr/bin/env python3
"""Fault soak: reachd against a mixed fleet of misbehaving devices while a rude
client abuses its HTTP port, for minutes; does it stay sighted? (issue 9)

  cargo build --release
  python3 bench/soak.py                  # 1000 devices, 10 minutes (60 s warm-up)
  python3 bench/soak.py --short          # CI: 300 devices, 2 minutes, exit 1 on a failed verdict
  python3 bench/soak.py --help           # every parameter

A benchmark, not a timed test: it prints what it measured and its verdicts;
with --short (or --gate) a failed verdict makes it exit 1. Loopback only:
every address it binds, checks or connects to is in 127.0.0.0/8.

What it does, in stages (each stage's duration is printed):

 1. `reachd sim` serves N devices (R1…RN) on 127.0.1.1… (--base; SSH on
    --port, Telnet on --telnet-port). Every simulator fault is mixed in:
    each fault gets --fault-share of the devices (default 1/18 = 5.6 %),
    the rest are healthy; which device gets which is a fixed shuffle
    (--seed). slow-prompt devices wait --slow-prompt (500 ms) before each
    prompt. Blackhole devices hold a full listen queue: loopback only.
 2. A reachd configuration checks every device over ICMP (every
    --icmp-interval, 1 s), SSH and Telnet (every --interval, 5 s, timeout
    --timeout 4 s), concurrency --concurrency (default: the device count,
    so nothing ever waits for a slot), `host_key: accept-new` with a state
    dir (--host-key), legacy algorithms for the legacy-only devices, and
    the simulator's credentials. `reachd validate` checks it.
 3. `reachd run` (--reachd, default target/release/reachd) with its check
    events logged as JSON (--log-filter reachd=debug,warn: one `check`
    event per check, not russh's or hyper's debug noise) to a file, HTTP on
    a free loopback port, and RLIMIT_NOFILE soft limit --reachd-nofile
    (default 1024, systemd's default soft limit; hard limit unchanged, as
    systemd does): a reachd that needs more must raise it itself.
 4. For --duration seconds (600; the first --warmup, 60, are warm-up), at
    once:
    - bench/http_abuse.py against the HTTP port: --idle idle connections
      (2000), --slowloris slowloris connections (200, one header byte every
      5 s), a burst of --burst concurrent `GET /metrics` (500) every
      --burst-every seconds (60), and normal scrapes of /metrics, / and
      /api/v1/status every 5 s. It is bounded in count and time and uses
      socket timeouts, so it never hangs on a reachd that stops answering.
    - every --sample seconds (5): reachd's open fds (/proc/PID/fd), RSS and
      threads (/proc/PID/status), its RLIMIT_NOFILE, `GET /-/healthy`
      (5 s timeout), and the new check events of its log.
    At the end of the warm-up and at the end, `reachd_checks_skipped_total`
    is read from /metrics.
 5. Stop (the client, reachd with SIGTERM, the simulator) and report.
    Ctrl-C or SIGTERM at any point stops and removes everything it started.

What each expectation is. A target is one device × protocol. ICMP to any
127.x address is answered by the kernel, so every device's ICMP target is
expected up. Healthy devices are expected up over SSH and Telnet. A fault
that only exists on one protocol leaves the other one healthy (SSH-only:
legacy-only, changed-host-key, kbd-interactive; Telnet-only: iac-storm,
password-only). Expected up as well: kbd-interactive and password-only (reachd
speaks both), legacy-only (its algorithms are configured), slow-prompt
(3 prompts × 500 ms, well inside the timeout). Expected down: wrong-password,
wrong-enable, tarpit, blackhole, banner-silence, garbage, disconnect,
no-prompt, endless-output, iac-storm (Telnet), changed-host-key (SSH, after
its first check, with accept-new).

The report, column by column:

 Process table: `warm-up` is the median of the samples in the last 30 s of
   the warm-up, `end` the median of the last 30 s of the run (medians, so a
   burst in flight at one sample does not count as a leak), `drift` their
   difference in %, `max` the highest sample, `limit` reachd's
   RLIMIT_NOFILE. CPU is reachd's CPU time over the measured window, in %
   of one core. Below it: how long reachd took to exit after SIGTERM (killed
   after 15 s), or when it died.
 Checks table, per protocol: `checks` done during the whole run and after
   the warm-up; `lag p50/p99/max`: the check events' lag_ms (how late the
   check started against its schedule) after the warm-up; `overruns`:
   checks whose duration exceeded the protocol's timeout + 100 ms (whole
   run), and `worst` the largest excess; `false downs`: down verdicts on
   targets expected up (whole run); `skipped (exp. up)`: on targets
   expected up, checks expected in the measured window (window / interval,
   minus 1 for its edges) but not done; `skipped (metric)`: the increase
   of `reachd_checks_skipped_total` over the measured window, all targets.
 False downs: the first few, with time (s since the start), device, its
   fault, protocol, reason, phase and detail.
 Outcomes by fault: for each fault, up/down verdicts per protocol over the
   whole run (what the faults did; not a verdict, except through the
   expectations above).
 HTTP abuse client: requests done and errors (bursts and scrapes); idle and
   slowloris connections opened, closed by the server (and after how long),
   connect errors; each burst: when, how many answered, errors, how long
   it took; scrape latencies; and how /-/healthy answered the sampler.

Verdicts: gating ones are printed as `ok …` or `FAIL …` and decide the exit
status with --short or --gate: reachd ran to the end; open fds and RSS did not drift by
more than 5 % after the warm-up (and at least --fd-floor fds / --rss-floor-mib
MiB, so small counts do not flap); open fds stayed under 90 % of reachd's
RLIMIT_NOFILE; no overrun; no false down; no check skipped on a target
expected up; scheduler lag p99 under 100 ms; /-/healthy answered every
sample within 5 s. Not gating (printed as `note met: …` / `note NOT met: …`,
for the record): `reachd_checks_skipped_total` did not grow (it counts the
faulty devices too).
"""
import argparse
import collections
import datetime
import json
import math
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (REACHD, free_port, http_get, nofile_limit, open_fds,  # noqa: E402
                    percentile, proc_cpu, proc_status, prom_sum, raise_nofile,
                    require_loopback, simulator, table)

BENCH = os.path.dirname(os.path.abspath(__file__))

FAULTS = ["wrong-password", "wrong-enable", "tarpit", "blackhole", "banner-silence", "garbage",
          "disconnect", "no-prompt", "slow-prompt", "endless-output", "legacy-only",
          "changed-host-key", "kbd-interactive", "iac-storm", "password-only", "echo-password"]

# What each device is expected to show over (ssh, telnet): "up", "down", or
# "down-after-first" (changed-host-key under accept-new: the first check
# records the key). ICMP is expected up for every device.
EXPECT = {
    "healthy": ("up", "up"),
    "wrong-password": ("down", "down"),
    "wrong-enable": ("down", "down"),
    "tarpit": ("down", "down"),
    "blackhole": ("down", "down"),
    "banner-silence": ("down", "down"),
    "garbage": ("down", "down"),
    "disconnect": ("down", "down"),
    "no-prompt": ("down", "down"),
    "slow-prompt": ("up", "up"),
    "endless-output": ("down", "down"),
    "legacy-only": ("up", "up"),
    "changed-host-key": ("down-after-first", "up"),
    "kbd-interactive": ("up", "up"),
    "iac-storm": ("up", "down"),
    "password-only": ("up", "up"),
    "echo-password": ("down", "down"),
}

LEGACY_SSH = ('kex: "+diffie-hellman-group14-sha1,diffie-hellman-group1-sha1", '
              'ciphers: "+aes128-cbc,aes256-cbc,3des-cbc", macs: "+hmac-sha1", '
              'host_key_algorithms: "+ssh-rsa"')

SHORT = {"devices": 300, "duration": 120, "warmup": 30, "burst_every": 30}
FULL = {"devices": 1000, "duration": 600, "warmup": 60, "burst_every": 60}


class Stop(Exception):
    """SIGTERM: stop and clean up like Ctrl-C."""


def on_sigterm(*_):
    raise Stop()


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("run")
    g.add_argument("--short", action="store_true",
                   help="the CI version: 300 devices, 120 s (30 s warm-up), bursts every 30 s; "
                        "exit 1 on a failed gating verdict")
    g.add_argument("--gate", action="store_true", help="exit 1 on a failed gating verdict (implied by --short)")
    g.add_argument("--reachd", default=REACHD, help="the reachd binary (default: %(default)s)")
    g.add_argument("--devices", type=int, help="simulated devices (1000; --short 300)")
    g.add_argument("--duration", type=float, help="seconds, warm-up included (600; --short 120)")
    g.add_argument("--warmup", type=float, help="seconds of warm-up (60; --short 30)")
    g.add_argument("--sample", type=float, default=5, help="seconds between samples (%(default)s)")
    g.add_argument("--keep-log", metavar="FILE", help="copy reachd's log here at the end")
    g = ap.add_argument_group("fleet")
    g.add_argument("--base", default="127.0.1.1", help="first device address, 127.0.0.0/8 (%(default)s)")
    g.add_argument("--port", type=int, default=2222, help="SSH port of the devices (%(default)s)")
    g.add_argument("--telnet-port", type=int, default=2323, help="Telnet port of the devices (%(default)s)")
    g.add_argument("--fault-share", type=float, default=1 / 18,
                   help="share of the devices given each fault (%(default)s); the rest are healthy")
    g.add_argument("--faults", default=",".join(FAULTS), help="the faults mixed in (default: all)")
    g.add_argument("--seed", type=int, default=1, help="which device gets which fault (%(default)s)")
    g.add_argument("--slow-prompt", default="500ms", help="slow-prompt devices' delay per prompt (%(default)s)")
    g = ap.add_argument_group("reachd")
    g.add_argument("--interval", type=float, default=5, help="ssh/telnet interval, s (%(default)s)")
    g.add_argument("--timeout", type=float, default=4, help="ssh/telnet timeout, s (%(default)s)")
    g.add_argument("--connect-timeout", type=float, default=2, help="ssh/telnet connect_timeout, s (%(default)s)")
    g.add_argument("--read-timeout", type=float, default=3, help="ssh/telnet read_timeout, s (%(default)s)")
    g.add_argument("--icmp-interval", type=float, default=1, help="icmp interval, s (%(default)s)")
    g.add_argument("--icmp-timeout", type=float, default=1, help="icmp timeout, s (%(default)s)")
    g.add_argument("--concurrency", type=int, help="ssh and telnet concurrency (default: the device count)")
    g.add_argument("--host-key", choices=["accept-new", "off"], default="accept-new",
                   help="ssh host key policy (%(default)s, with a state dir)")
    g.add_argument("--reachd-nofile", default="1024",
                   help="reachd's RLIMIT_NOFILE soft limit, or `inherit` (%(default)s: systemd's default)")
    g.add_argument("--log-filter", default="reachd=debug,warn", help="reachd --log-level (%(default)s)")
    g = ap.add_argument_group("HTTP abuse (bench/http_abuse.py)")
    g.add_argument("--no-abuse", action="store_true", help="no HTTP abuse client")
    g.add_argument("--idle", type=int, default=2000, help="idle connections (%(default)s)")
    g.add_argument("--slowloris", type=int, default=200, help="slowloris connections (%(default)s)")
    g.add_argument("--burst", type=int, default=500, help="concurrent GET /metrics per burst (%(default)s)")
    g.add_argument("--burst-every", type=float, help="seconds between bursts (60; --short 30)")
    g.add_argument("--http-timeout", type=float, default=30, help="the client's per-request timeout, s (%(default)s)")
    g = ap.add_argument_group("verdicts")
    g.add_argument("--drift-pct", type=float, default=5, help="allowed fd and RSS drift, %% (%(default)s)")
    g.add_argument("--fd-floor", type=int, default=20, help="fd drift always allowed (%(default)s)")
    g.add_argument("--rss-floor-mib", type=float, default=10, help="RSS drift always allowed, MiB (%(default)s)")
    a = ap.parse_args()
    preset = SHORT if a.short else FULL
    for k, v in preset.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.gate = a.gate or a.short
    if a.concurrency is None:
        a.concurrency = a.devices
    a.base = require_loopback(a.base, "--base")
    a.faults = [f for f in a.faults.split(",") if f]
    for f in a.faults:
        if f not in FAULTS:
            ap.error(f"unknown fault {f!r}; faults: {', '.join(FAULTS)}")
    if a.warmup < 30 or a.duration < a.warmup + 60:
        ap.error("need --warmup >= 30 and --duration >= warm-up + 60 (30 s windows at both ends)")
    if not os.access(a.reachd, os.X_OK):
        sys.exit(f"{a.reachd} missing: run `cargo build --release` first (or pass --reachd)")
    return a


def assign_faults(a):
    """{device name: fault or "healthy"}: each fault on round(N·share)
    devices, a fixed shuffle."""
    per = round(a.devices * a.fault_share)
    labels = [f for f in a.faults for _ in range(per)]
    if len(labels) > a.devices:
        sys.exit(f"{len(a.faults)} faults × {per} devices > {a.devices} devices: lower --fault-share")
    labels += ["healthy"] * (a.devices - len(labels))
    random.Random(a.seed).shuffle(labels)
    return {f"R{i + 1}": f for i, f in enumerate(labels)}


def sim_addresses(inv):
    """{device: address} from the simulator's --inventory-out, each checked
    to be loopback."""
    out, name = {}, None
    for line in open(inv):
        line = line.strip()
        if line.startswith("- name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("address:") and name:
            out[name] = require_loopback(line.split('"')[1], f"simulated device {name}")
    return out


def secs(x):
    return f"{x:g}"


def write_config(a, d, listen_port, fault_of, addrs):
    path = os.path.join(d, "reachd.yaml")
    lines = [
        f"listen: 127.0.0.1:{listen_port}",
        "shutdown_grace: 2s",
        f"state_dir: {os.path.join(d, 'state')}",
        "defaults:",
        f"  icmp: {{interval: {secs(a.icmp_interval)}, timeout: {secs(a.icmp_timeout)}, concurrency: 10000}}",
        f"  ssh: {{interval: {secs(a.interval)}, timeout: {secs(a.timeout)}, "
        f"connect_timeout: {secs(a.connect_timeout)}, read_timeout: {secs(a.read_timeout)}, "
        f"concurrency: {a.concurrency}, port: {a.port}, host_key: {a.host_key}}}",
        f"  telnet: {{interval: {secs(a.interval)}, timeout: {secs(a.timeout)}, "
        f"connect_timeout: {secs(a.connect_timeout)}, read_timeout: {secs(a.read_timeout)}, "
        f"concurrency: {a.concurrency}, port: {a.telnet_port}}}",
        "profiles:",
        "  sim:",
        "    username: admin",
        "    password: admin",
        "    secondary: cisco",
        "    platform: cisco_iosxe",
        "    checks: [icmp, ssh, telnet]",
        "devices:",
    ]
    for name, fault in fault_of.items():
        lines += [f"  - name: {name}", f'    address: "{addrs[name]}"', "    profile: sim",
                  f"    labels: {{fault: {fault}}}"]
        if fault == "legacy-only":
            lines.append(f"    ssh: {{{LEGACY_SSH}}}")
    os.makedirs(os.path.join(d, "state"), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def parse_ts(s):
    """tracing's RFC 3339 timestamp → Unix seconds."""
    s = s.rstrip("Z")
    if "." in s:
        head, frac = s.split(".", 1)
        s = f"{head}.{frac[:6]}"
    return datetime.datetime.fromisoformat(s).replace(tzinfo=datetime.timezone.utc).timestamp()


class CheckLog:
    """Reads reachd's JSON log as it grows and keeps what the report needs."""

    def __init__(self, path, fault_of, timeouts_ms, t_start):
        self.path = path
        self.pos = 0
        self.rest = b""
        self.fault_of = fault_of
        self.timeouts_ms = timeouts_ms
        self.t_start = t_start
        self.t_warm = None  # set when the warm-up ends
        self.t_end = None  # events after it are not judged (shutdown)
        self.checks = collections.Counter()  # protocol → whole run
        self.checks_after = collections.Counter()
        self.lags = collections.defaultdict(list)  # protocol → lag_ms after warm-up
        self.overruns = collections.Counter()
        self.worst = {}  # protocol → (excess ms, device, reason, phase, duration)
        self.false_downs = collections.Counter()  # (class, protocol)
        self.false_examples = []
        self.unexpected_up = collections.Counter()
        self.first_up_seen = set()
        self.done_in_window = collections.Counter()  # (device, protocol)
        self.outcomes = collections.defaultdict(collections.Counter)  # fault → (proto, up)
        self.emfile = 0
        self.other = collections.Counter()  # (level, message) of other WARN/ERROR lines
        self.bad_lines = 0
        self.after_end = 0

    def expectation(self, device, proto):
        fault = self.fault_of.get(device, "?")
        if proto == "icmp":
            return fault, "up"
        ssh, telnet = EXPECT.get(fault, ("?", "?"))
        return fault, ssh if proto == "ssh" else telnet

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return
        self.pos += len(data)
        data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            self.line(line)

    def line(self, raw):
        if b"Too many open files" in raw:
            self.emfile += 1
        try:
            ev = json.loads(raw)
        except ValueError:
            if raw.strip():
                self.bad_lines += 1
            return
        msg = ev.get("message")
        if msg != "check":
            level = ev.get("level", "")
            if level in ("WARN", "ERROR") and msg not in ("down", "up again"):
                self.other[(level, str(msg)[:100])] += 1
            return
        try:
            ts = parse_ts(ev["timestamp"])
            device, proto, up = ev["device"], ev["protocol"], bool(ev["up"])
            dur, lag = float(ev["duration_ms"]), float(ev["lag_ms"])
        except (KeyError, ValueError, TypeError):
            self.bad_lines += 1
            return
        if self.t_end is not None and ts > self.t_end:
            self.after_end += 1
            return
        after_warm = self.t_warm is not None and ts >= self.t_warm
        self.checks[proto] += 1
        if after_warm:
            self.checks_after[proto] += 1
            self.lags[proto].append(lag)
            self.done_in_window[(device, proto)] += 1
        excess = dur - self.timeouts_ms[proto]
        if excess > 100:
            self.overruns[proto] += 1
            if excess > self.worst.get(proto, (0,))[0]:
                self.worst[proto] = (excess, device, ev.get("reason"), ev.get("phase"), dur)
        fault, expect = self.expectation(device, proto)
        self.outcomes[fault][(proto, up)] += 1
        if expect == "up" and not up:
            cls = "healthy" if fault == "healthy" else "other"
            self.false_downs[(cls, proto)] += 1
            if len(self.false_examples) < 8:
                self.false_examples.append(
                    [f"{ts - self.t_start:.0f}", device, fault, proto, ev.get("reason"), ev.get("phase"),
                     f"{dur:.0f}", str(ev.get("detail", ""))[:90]])
        elif up and expect == "down-after-first" and (device, proto) not in self.first_up_seen:
            self.first_up_seen.add((device, proto))
        elif up and expect.startswith("down"):
            self.unexpected_up[proto] += 1


def terminate(proc, timeout, sig=signal.SIGTERM):
    """Signals proc (if it runs), waits up to timeout, then kills it.
    Returns (seconds it took, whether it had to be killed), or None if it
    was not running."""
    if proc is None or proc.poll() is not None:
        return None
    t0 = time.monotonic()
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
        return time.monotonic() - t0, False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return time.monotonic() - t0, True


class SkippedScrape(threading.Thread):
    """Reads reachd_checks_skipped_total per protocol from /metrics in the
    background (a slow /metrics must not delay the samples); .result() is
    {protocol: value} or None, .seconds how long the scrape took."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.value = None
        self.seconds = None
        self.start()

    def run(self):
        t0 = time.monotonic()
        for _ in range(2):
            try:
                status, body = http_get("127.0.0.1", self.port, "/metrics", 15)
                if status == 200:
                    text = body.decode(errors="replace")
                    self.value = {p: prom_sum(text, "reachd_checks_skipped_total", protocol=p) or 0.0
                                  for p in ("icmp", "ssh", "telnet")}
                    break
            except OSError:
                pass
        self.seconds = time.monotonic() - t0

    def result(self):
        self.join(timeout=35)
        return self.value


def median(xs):
    return percentile(xs, 50)


def fmt(x, spec=".0f", none="n/a"):
    return none if x is None else format(x, spec)


def main():
    a = parse_args()
    raise_nofile()
    # Ctrl-C raises KeyboardInterrupt; SIGTERM does the same through Stop.
    signal.signal(signal.SIGTERM, on_sigterm)
    fault_of = assign_faults(a)
    counts = collections.Counter(fault_of.values())
    stages = []
    t_stage = time.monotonic()

    def stage(name):
        nonlocal t_stage
        now = time.monotonic()
        stages.append((name, now - t_stage))
        print(f"[soak] {name}: {now - t_stage:.1f} s", file=sys.stderr, flush=True)
        t_stage = now

    sim_args = ["--devices", str(a.devices), "--base", a.base, "--port", str(a.port),
                "--telnet-port", str(a.telnet_port), "--slow-prompt", a.slow_prompt]
    for name, fault in fault_of.items():
        if fault != "healthy":
            sim_args += ["--fault", f"{name}={fault}"]
    reachd = abuse = None
    log_f = None
    interrupted = None
    try:
        with simulator("reachd-soak-", sim_args, reachd=a.reachd, start_timeout=60) as (d, sim, inv):
            addrs = sim_addresses(inv)
            if sorted(addrs) != sorted(fault_of):
                sys.exit("the simulator's inventory does not list the devices asked for")
            stage("simulator start")
            port = free_port()
            cfg = write_config(a, d, port, fault_of, addrs)
            v = subprocess.run([a.reachd, "validate", "--config", cfg], capture_output=True, text=True)
            if v.returncode != 0:
                sys.exit(f"reachd validate refused the soak's configuration:\n{v.stdout}{v.stderr}")
            stage("configuration (written, validated)")

            log_path = os.path.join(d, "reachd.log")
            log_f = open(log_path, "wb")

            def limits():
                if a.reachd_nofile != "inherit":
                    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                    resource.setrlimit(resource.RLIMIT_NOFILE, (min(int(a.reachd_nofile), hard), hard))

            reachd = subprocess.Popen(
                [a.reachd, "run", "--config", cfg, "--log-format", "json", "--log-level", a.log_filter],
                stdout=log_f, stderr=log_f, preexec_fn=limits)
            t_start = time.time()
            ready = False
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and reachd.poll() is None:
                try:
                    if http_get("127.0.0.1", port, "/-/ready", 2)[0] == 200:
                        ready = True
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            if not ready:
                terminate(reachd, 5)
                log_f.flush()
                tail = open(log_path, errors="replace").read()[-3000:]
                sys.exit(f"reachd did not become ready within 60 s (exit {reachd.poll()}):\n{tail}")
            stage("reachd start (until /-/ready)")

            timeouts_ms = {"icmp": a.icmp_timeout * 1000, "ssh": a.timeout * 1000,
                           "telnet": a.timeout * 1000}
            intervals = {"icmp": a.icmp_interval, "ssh": a.interval, "telnet": a.interval}
            log = CheckLog(log_path, fault_of, timeouts_ms, t_start)
            abuse_out = os.path.join(d, "abuse.json")
            if not a.no_abuse:
                abuse = subprocess.Popen(
                    [sys.executable, os.path.join(BENCH, "http_abuse.py"), "--host", "127.0.0.1",
                     "--port", str(port), "--seconds", str(a.duration), "--idle", str(a.idle),
                     "--slowloris", str(a.slowloris), "--burst", str(a.burst),
                     "--burst-every", str(a.burst_every), "--timeout", str(a.http_timeout),
                     "--out", abuse_out],
                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "abuse.err"), "wb"))

            # --- the soak ------------------------------------------------------
            t0 = time.monotonic()
            samples = []  # (t, fds, rss, threads, limit, healthy_ms or None)
            skipped_warm = skipped_end = None
            cpu_warm = cpu_end = None
            died = None
            warm_done = False
            finished = False
            try:
                while True:
                    t = time.monotonic() - t0
                    if t >= a.duration:
                        break
                    if reachd.poll() is not None:
                        died = (t, reachd.returncode)
                        break
                    if sim.poll() is not None:
                        sys.exit(f"the simulator died at {t:.0f} s (exit {sim.returncode})")
                    st = proc_status(reachd.pid) or {}
                    fds = open_fds(reachd.pid)
                    h0 = time.monotonic()
                    try:
                        healthy = http_get("127.0.0.1", port, "/-/healthy", 5)[0] == 200
                    except OSError:
                        healthy = False
                    hms = (time.monotonic() - h0) * 1000 if healthy else None
                    samples.append((t, fds, st.get("rss_mib"), st.get("threads"),
                                    nofile_limit(reachd.pid), hms))
                    log.read()
                    if not warm_done and t >= a.warmup:
                        warm_done = True
                        log.t_warm = time.time()
                        t_warm_mono = time.monotonic()
                        cpu_warm = proc_cpu(reachd.pid)
                        skipped_warm = SkippedScrape(port)
                        stage(f"warm-up ({a.warmup:g} s)")
                    time.sleep(max(0.0, min(a.sample - (time.monotonic() - t0 - t), a.duration - t)))
                if died is None:
                    log.t_end = time.time()
                    cpu_end = proc_cpu(reachd.pid)
                    t_end_mono = time.monotonic()
                    skipped_end = SkippedScrape(port)
                    skipped_end.result()
                else:
                    log.t_end = time.time()
                    t_end_mono = time.monotonic()
                stage(f"measured ({a.duration - a.warmup:g} s)" if died is None
                      else f"measured until reachd died at {died[0]:.0f} s")
                finished = True
            finally:
                # Stop the client first (it writes its report on SIGTERM), then
                # reachd. After a full run the client ends by itself (a burst may
                # still be finishing); interrupted, it is stopped at once.
                if abuse is not None and abuse.poll() is None:
                    try:
                        abuse.wait(timeout=a.http_timeout + 20 if finished else 0.1)
                    except subprocess.TimeoutExpired:
                        terminate(abuse, 15)
                reachd_stop = terminate(reachd, 15)
                log_f.close()
                log_f = None
            stage("stop (client, reachd)")
            log.read()
            if a.keep_log:
                import shutil
                shutil.copyfile(log_path, a.keep_log)
            abuse_report = None
            if abuse is not None:
                try:
                    abuse_report = json.load(open(abuse_out))
                except (OSError, ValueError):
                    abuse_report = {"failed": open(os.path.join(d, "abuse.err"), errors="replace").read()[-500:]}
            scrapes = (skipped_warm, skipped_end)
            skipped_warm, skipped_end = (x.result() if x else None for x in scrapes)
            scrape_s = [x.seconds if x else None for x in scrapes]
            ok = report(a, counts, stages, samples, log, intervals, skipped_warm, skipped_end, scrape_s,
                        cpu_warm, cpu_end, (t_warm_mono if warm_done else None), t_end_mono, t0,
                        died, (reachd_stop, reachd.returncode), abuse_report)
    except (KeyboardInterrupt, Stop) as e:
        interrupted = e
    finally:
        for p in (abuse, reachd):
            terminate(p, 5)
        if log_f is not None:
            log_f.close()
    if interrupted is not None:
        print("\n[soak] interrupted: everything it started is stopped", file=sys.stderr)
        sys.exit(130)
    sys.exit(0 if ok or not a.gate else 1)


def report(a, counts, stages, samples, log, intervals, skipped_warm, skipped_end, scrape_s, cpu_warm,
           cpu_end, t_warm_mono, t_end_mono, t0, died, stopped, abuse):
    load = open("/proc/loadavg").read().split()[:3]
    faulty = sum(n for f, n in counts.items() if f != "healthy")
    print(f"\nreachd soak: {a.devices} devices ({counts['healthy']} healthy, {faulty} faulty: "
          f"{len(a.faults)} faults × {round(a.devices * a.fault_share)}), {a.duration:g} s "
          f"({a.warmup:g} s warm-up)")
    print(f"  checks: icmp every {a.icmp_interval:g} s (timeout {a.icmp_timeout:g} s), ssh and telnet every "
          f"{a.interval:g} s (timeout {a.timeout:g} s, connect {a.connect_timeout:g} s, read "
          f"{a.read_timeout:g} s), concurrency {a.concurrency}, host_key {a.host_key}")
    print(f"  HTTP abuse: " + ("none" if a.no_abuse else
          f"{a.idle} idle, {a.slowloris} slowloris, bursts of {a.burst} GET /metrics every "
          f"{a.burst_every:g} s, scrapes every 5 s"))
    print(f"  reachd: {a.reachd}, RLIMIT_NOFILE soft {a.reachd_nofile}; {os.cpu_count()} CPUs, "
          f"load average at the end {' '.join(load)}")
    print("\nstages:")
    for name, s in stages:
        print(f"  {name:<40} {s:7.1f} s")

    # --- process ------------------------------------------------------------
    t_warm = a.warmup
    t_last = samples[-1][0] if samples else 0
    warm = [s for s in samples if t_warm - 30 <= s[0] <= t_warm + a.sample / 2]
    end = [s for s in samples if s[0] >= t_last - 30] if died is None else []

    def col(rows, i):
        return [r[i] for r in rows if r[i] is not None]

    rows = []
    drift = {}
    limits = col(samples, 4)
    for label, i, spec in (("open fds", 1, ".0f"), ("RSS MiB", 2, ".1f"), ("threads", 3, ".0f")):
        w, e = median(col(warm, i)), median(col(end, i))
        allv = col(samples, i)
        d = None if w is None or e is None or w == 0 else (e - w) / w * 100
        drift[label] = (w, e, d)
        rows.append([label, fmt(w, spec), fmt(e, spec), "n/a" if d is None else f"{d:+.1f} %",
                     fmt(max(allv) if allv else None, spec),
                     (fmt(min(limits), ".0f") + "–" + fmt(max(limits), ".0f")) if label == "open fds" and limits
                     else ""])
    cpu = None
    if cpu_warm is not None and cpu_end is not None and t_warm_mono is not None:
        cpu = (cpu_end - cpu_warm) / (t_end_mono - t_warm_mono) * 100
    rows.append(["CPU % of a core", "", fmt(cpu, ".0f"), "", "", ""])
    print("\nreachd process (warm-up: median of the warm-up's last 30 s; end: of the run's last 30 s)\n")
    table(rows, ["", "warm-up", "end", "drift", "max", "limit"])
    # The trajectory tells a plateau (warming caches, allocator arenas)
    # from a leak (a steady climb).
    by_min = {}
    for r in samples:
        if r[1] is not None and r[2] is not None:
            by_min.setdefault(int(r[0] // 60), (r[1], r[2]))
    if by_min:
        mins = sorted(by_min)
        print("\nby minute (first sample of each):")
        table([["open fds"] + [fmt(by_min[m][0], ".0f") for m in mins],
               ["RSS MiB"] + [fmt(by_min[m][1], ".1f") for m in mins]],
              ["minute"] + [str(m) for m in mins])
    if died is not None:
        print(f"\nreachd DIED at {died[0]:.0f} s with exit status {died[1]}")
    elif stopped[0] is not None:
        took, killed = stopped[0]
        print(f"\nreachd after SIGTERM: " + (f"still running after {took:.1f} s, killed" if killed else
                                             f"exited in {took:.1f} s with status {stopped[1]}"))

    # --- checks -------------------------------------------------------------
    window = None
    if t_warm_mono is not None:
        window = t_end_mono - t_warm_mono
    missing = collections.Counter()  # (class, protocol)
    for dev, fault in log.fault_of.items():
        for proto in ("icmp", "ssh", "telnet"):
            _, expect = log.expectation(dev, proto)
            if expect != "up" or window is None:
                continue
            want = math.floor(window / intervals[proto]) - 1
            lack = want - log.done_in_window[(dev, proto)]
            if lack > 0:
                missing[("healthy" if fault == "healthy" else "other", proto)] += lack
    rows = []
    for proto in ("icmp", "ssh", "telnet"):
        lags = log.lags[proto]
        worst = log.worst.get(proto)
        sk = None
        if skipped_warm is not None and skipped_end is not None:
            sk = skipped_end[proto] - skipped_warm[proto]
        rows.append([proto, f"{intervals[proto]:g}/{log.timeouts_ms[proto] / 1000:g}",
                     log.checks[proto], log.checks_after[proto],
                     fmt(percentile(lags, 50), ".1f"), fmt(percentile(lags, 99), ".1f"),
                     fmt(max(lags) if lags else None, ".0f"),
                     log.overruns[proto], "-" if not worst else f"+{worst[0]:.0f} ms ({worst[2]}/{worst[3]})",
                     f"{log.false_downs[('healthy', proto)]} / {log.false_downs[('other', proto)]}",
                     f"{missing[('healthy', proto)]} / {missing[('other', proto)]}",
                     fmt(sk, ".0f")])
    print(f"\nchecks (lag after warm-up; overruns and false downs over the whole run; "
          f"x / y = healthy devices / other targets expected up)\n")
    table(rows, ["protocol", "interval/timeout s", "checks", "after warm-up", "lag p50 ms", "lag p99 ms",
                 "lag max ms", "overruns", "worst overrun", "false downs", "skipped (exp. up)",
                 "skipped (metric)"])
    print(f"(reachd_checks_skipped_total read from /metrics at the warm-up's end in "
          f"{fmt(scrape_s[0], '.1f')} s, at the end in {fmt(scrape_s[1], '.1f')} s)")
    if log.false_examples:
        print("\nfirst false downs:\n")
        table(log.false_examples, ["t s", "device", "fault", "protocol", "reason", "phase", "ms", "detail"])
    rows = []
    for fault in ["healthy"] + a.faults:
        o = log.outcomes.get(fault, {})
        ssh_e, tel_e = EXPECT[fault]
        rows.append([fault, counts.get(fault, 0)] +
                     [f"{o.get((p, True), 0)}/{o.get((p, False), 0)}" for p in ("icmp", "ssh", "telnet")] +
                     [f"{ssh_e}, {tel_e}"])
    print("\noutcomes by fault (up/down verdicts, whole run; expected ssh, telnet; icmp always up)\n")
    table(rows, ["fault", "devices", "icmp", "ssh", "telnet", "expected"])
    if sum(log.unexpected_up.values()):
        print(f"\nup verdicts on targets expected down: {dict(log.unexpected_up)}")
    print(f"\nlog: {sum(log.checks.values())} check events, {log.emfile} lines saying "
          f"'Too many open files', {log.bad_lines} unreadable lines")
    if log.other:
        print("other warnings and errors in reachd's log (count, level, message):")
        for (level, msg), n in log.other.most_common(6):
            print(f"  {n:7d}  {level:5}  {msg}")

    # --- HTTP ---------------------------------------------------------------
    hs = [s[5] for s in samples]
    answered = [x for x in hs if x is not None]
    print(f"\n/-/healthy from the sampler: {len(answered)}/{len(hs)} answered within 5 s, "
          f"slowest {fmt(max(answered) if answered else None, '.0f')} ms")
    if abuse is not None:
        print(f"\nHTTP abuse client: {abuse.get('requests', 0)} requests, {abuse.get('errors', 'n/a')} errors")
        if "failed" in abuse:
            print(f"  the client failed: {abuse['failed']}")
        for kind in ("idle", "slowloris"):
            c = abuse.get(kind)
            if c:
                print(f"  {kind}: target {c['target']}, opened {c['opened']}, at most {c['open_max']} open at once, "
                      f"ended from reachd's side {c['closed_by_server']} (after {fmt(c['closed_after_s_p50'], '.1f')} s "
                      f"median, {fmt(c['closed_after_s_max'], '.1f')} s max), connect errors "
                      f"{c['connect_errors'] or 0}")
        if abuse.get("bursts"):
            rows = [[b["at_s"], b["n"], b["ok"], json.dumps(b["errors"]) if b["errors"] else "-", b["seconds"],
                     fmt(b["ok_ms_p50"], ".0f"), fmt(b["ok_ms_max"], ".0f")] for b in abuse["bursts"]]
            print(f"  bursts of GET /metrics ({abuse.get('bursts_skipped', 0)} skipped: previous still running):\n")
            table(rows, ["  at s", "sent", "answered", "errors", "took s", "ok p50 ms", "ok max ms"])
        if abuse.get("scrapes"):
            print()
            rows = [[p, s["ok"], json.dumps(s["errors"]) if s["errors"] else "-", fmt(s["ms_p50"], ".0f"),
                     fmt(s["ms_max"], ".0f")] for p, s in abuse["scrapes"].items()]
            table(rows, ["  scrape", "answered", "errors", "p50 ms", "max ms"])

    # --- verdicts -----------------------------------------------------------
    verdicts = []  # (gating, passed, text)

    def verdict(gating, passed, text):
        verdicts.append((gating, passed, text))

    verdict(True, died is None, "reachd ran to the end" if died is None else
            f"reachd ran to the end (it died at {died[0]:.0f} s, exit status {died[1]})")
    for label, floor, unit in (("open fds", a.fd_floor, ""), ("RSS MiB", a.rss_floor_mib, " MiB")):
        w, e, d = drift[label]
        if w is None or e is None:
            verdict(True, False, f"{label} flat after warm-up (no samples to compare)")
            continue
        allowed = max(w * a.drift_pct / 100, floor)
        verdict(True, e - w <= allowed,
                f"{label} flat after warm-up: {w:.0f} → {e:.0f} ({d:+.1f} %; allowed +{allowed:.0f}{unit})")
    fd_max = max(col(samples, 1), default=None)
    lim = min(limits) if limits else None
    verdict(True, fd_max is not None and lim is not None and fd_max < 0.9 * lim,
            f"open fds stay under 90 % of reachd's RLIMIT_NOFILE: max {fmt(fd_max)} of {fmt(lim)}")
    n_over = sum(log.overruns.values())
    worst = max(log.worst.values(), default=None)
    verdict(True, n_over == 0, f"no check beyond its timeout + 100 ms: {n_over} overruns" +
            (f", worst +{worst[0]:.0f} ms ({worst[1]}, {worst[2]}/{worst[3]})" if worst else ""))
    n_false = sum(log.false_downs.values())
    n_false_h = sum(n for (c, _), n in log.false_downs.items() if c == "healthy")
    verdict(True, n_false == 0, f"no false down: {n_false} down verdicts on targets expected up "
            f"({n_false_h} on healthy devices)")
    n_miss = sum(missing.values())
    n_miss_h = sum(n for (c, _), n in missing.items() if c == "healthy")
    verdict(True, window is not None and n_miss == 0,
            f"nothing skipped on targets expected up: {n_miss} checks missing after warm-up "
            f"({n_miss_h} on healthy devices)")
    lag99 = percentile([x for p in log.lags.values() for x in p], 99)
    verdict(True, lag99 is not None and lag99 < 100, f"scheduler lag p99 under 100 ms: {fmt(lag99, '.1f')} ms")
    verdict(True, bool(hs) and len(answered) == len(hs),
            f"/-/healthy answered every sample within 5 s: {len(answered)}/{len(hs)}")
    if skipped_warm is not None and skipped_end is not None:
        sk = sum(skipped_end.values()) - sum(skipped_warm.values())
        verdict(False, sk == 0, f"reachd_checks_skipped_total did not grow after warm-up: +{sk:.0f}")
    else:
        verdict(False, False, "reachd_checks_skipped_total did not grow after warm-up: /metrics did not answer")
    print("\nverdicts (`ok`/`FAIL`: gating, they decide the exit status with --short or --gate; "
          "`note`: for the record):")
    for gating, passed, text in verdicts:
        if gating:
            print(f"{'ok' if passed else 'FAIL'} {text}")
    for gating, passed, text in verdicts:
        if not gating:
            print(f"note {'met' if passed else 'NOT met'}: {text}")
    return all(p for g, p, _ in verdicts if g)


if __name__ == "__main__":
    main()
