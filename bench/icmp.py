#!/usr/bin/env python3
"""ICMP benchmark: reachd beside fping on the same loopback targets.

  python3 bench/icmp.py round [--targets 10000]
      One round over N distinct 127.x.y.z addresses, one echo request each:
      `reachd check` vs `fping -c1 -i0`. Wall time, CPU seconds, peak RSS.

  python3 bench/icmp.py sustained [--targets 100000] [--interval 10] [--seconds 60]
      `reachd run` on N targets at the interval for the given time: CPU share,
      peak RSS, scheduler lag p50/p99, and any false loss (loopback never
      drops, so every lost echo is reachd's fault).

Run as root (or with ping_group_range open) after `cargo build --release`.
Only loopback addresses are used. Prints tables; asserts nothing.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import REACHD, measured, proc_cpu, table  # noqa: E402


def loopback_addresses(n):
    """n distinct addresses in 127.1.0.1 .. (never .0 or .255)."""
    out = []
    a, b, c = 1, 0, 1
    while len(out) < n:
        out.append(f"127.{a}.{b}.{c}")
        c += 1
        if c == 255:
            c, b = 1, b + 1
            if b == 256:
                b, a = 0, a + 1
    return out


def write_inventory(d, addrs, interval, count, concurrency, listen=None):
    """The layout the README recommends for a fleet: settings in the main
    file, the device list in an inventory file it names."""
    cfg = os.path.join(d, "reachd.yaml")
    with open(cfg, "w") as f:
        if listen:
            f.write(f"listen: {listen}\n")
        f.write("log: {level: warn}\n")
        f.write("defaults:\n  icmp:\n")
        f.write(f"    interval: {interval}s\n    timeout: 1s\n    count: {count}\n")
        f.write(f"    spacing: 100ms\n    concurrency: {concurrency}\n")
        f.write("inventory: [devices.yaml]\n")
    with open(os.path.join(d, "devices.yaml"), "w") as f:
        for i, a in enumerate(addrs):
            f.write(f"- {{name: d{i}, address: {a}}}\n")
    lst = os.path.join(d, "targets.txt")
    with open(lst, "w") as f:
        f.write("\n".join(addrs) + "\n")
    return cfg, lst


def cmd_round(args):
    addrs = loopback_addresses(args.targets)
    with tempfile.TemporaryDirectory() as d:
        cfg, lst = write_inventory(d, addrs, 10, 1, args.targets)
        rows = []
        for rep in range(args.repeat):
            r = measured([REACHD, "check", "--config", cfg, "--format", "json"])
            up = r["out"].count('"up":true')
            rows.append(["reachd check", rep + 1, len(addrs), f'{r["wall"]:.3f}', f'{r["cpu"]:.3f}',
                         f'{r["rss_mib"]:.1f}', f"{up}/{len(addrs)}"])
            if r["code"] not in (0, 1):
                print(r["err"], file=sys.stderr)
            f = measured(["fping", "-c1", "-i0", "-q", "-f", lst])
            alive = len(re.findall(r"xmt/rcv/%loss = 1/1/0%", f["err"]))
            rows.append(["fping -c1 -i0", rep + 1, len(addrs), f'{f["wall"]:.3f}', f'{f["cpu"]:.3f}',
                         f'{f["rss_mib"]:.1f}', f"{alive}/{len(addrs)}"])
        print(f"\nICMP, one round, {len(addrs)} loopback targets, one echo each ({os.cpu_count()} cores)\n")
        table(rows, ["tool", "run", "targets", "wall s", "CPU s", "peak RSS MiB", "answered"])


def scrape(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read().decode()


def histogram_quantile(q, buckets):
    """buckets: list of (le, cumulative count), sorted; like PromQL's."""
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    prev_le, prev_c = 0.0, 0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / max(c - prev_c, 1))
        prev_le, prev_c = le, c
    return prev_le


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return float("nan")


def cmd_sustained(args):
    addrs = loopback_addresses(args.targets)
    listen = "127.0.0.1:19899"
    with tempfile.TemporaryDirectory() as d:
        cfg, _ = write_inventory(d, addrs, args.interval, args.count, args.concurrency, listen)
        proc = subprocess.Popen([REACHD, "run", "--config", cfg, "--log-format", "json"],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "log"), "w"))
        try:
            time.sleep(args.interval + 2)  # first spread round under way
            c0, t0 = proc_cpu(proc.pid), time.monotonic()
            time.sleep(args.seconds)
            c1, t1 = proc_cpu(proc.pid), time.monotonic()
            rss = proc_status(proc.pid, "VmHWM")
            s0 = time.monotonic()
            text = scrape(f"http://{listen}/metrics")
            scrape_s = time.monotonic() - s0
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        sent = sum(float(m) for m in re.findall(r"^reachd_icmp_requests_sent_total\{[^}]*\} (\S+)$", text, re.M))
        recv = sum(float(m) for m in re.findall(r"^reachd_icmp_replies_received_total\{[^}]*\} (\S+)$", text, re.M))
        down = len(re.findall(r'^reachd_up\{[^}]*protocol="icmp"\} 0$', text, re.M))
        buckets = []
        for labels, c in re.findall(r'^reachd_scheduler_lag_seconds_bucket\{([^}]*)\} (\S+)$', text, re.M):
            if 'protocol="icmp"' not in labels:
                continue
            le = re.search(r'le="([^"]+)"', labels).group(1)
            buckets.append((float("inf") if le == "+Inf" else float(le), float(c)))
        buckets.sort()
        skipped = re.search(r'^reachd_checks_skipped_total\{protocol="icmp"\} (\S+)$', text, re.M)
        checks = len(re.findall(r"^reachd_checks_total\{", text, re.M))
        rows = [[
            "reachd run", len(addrs), f"{args.interval}s", f"{args.seconds}s",
            f"{100 * (c1 - c0) / (t1 - t0):.1f}%", f"{rss:.0f}",
            f"{1000 * histogram_quantile(0.5, buckets):.1f}", f"{1000 * histogram_quantile(0.99, buckets):.1f}",
            f"{int(sent - recv)} of {int(sent)}", down, skipped.group(1) if skipped else "?",
            f"{scrape_s:.1f}",
        ]]
        print(f"\nICMP, sustained, {len(addrs)} loopback targets, {args.count} echo(s) per check ({os.cpu_count()} cores)\n")
        table(rows, ["tool", "targets", "interval", "measured", "CPU (of one core)", "peak RSS MiB",
                     "lag p50 ms", "lag p99 ms", "lost echoes", "down", "skipped", "scrape s"])
        print(f"\n{checks} targets reported; CPU over the measured window; RSS is the process's peak.")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("round")
    r.add_argument("--targets", type=int, default=10000)
    r.add_argument("--repeat", type=int, default=3)
    s = sub.add_parser("sustained")
    s.add_argument("--targets", type=int, default=100000)
    s.add_argument("--interval", type=int, default=10)
    s.add_argument("--seconds", type=int, default=60)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--concurrency", type=int, default=10000)
    args = ap.parse_args()
    if not os.path.exists(REACHD):
        sys.exit(f"build first: cargo build --release ({REACHD} missing)")
    if args.mode == "round" and not shutil.which("fping"):
        sys.exit("fping is needed for the comparison: apt-get install fping")
    {"round": cmd_round, "sustained": cmd_sustained}[args.mode](args)


if __name__ == "__main__":
    main()
