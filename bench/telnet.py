#!/usr/bin/env python3
"""Telnet benchmark: reachd beside the seeds' Python approach, same devices, same run.

  cargo build --release
  python3 bench/telnet.py [--devices 1000] [--concurrency 100] [--venv DIR] [--no-scrapli]

Starts `reachd sim --no-ssh` with N simulated Cisco-like Telnet devices on
127.0.1.1… (one address each, port 2323, loopback only), then sweeps them
once with each client at the same concurrency, one after the other:

  reachd      `reachd check` (full dialogue: negotiation, Username:,
              Password:, R1>, enable, R1#, terminal length 0, exit)
  scrapli     scrapli AsyncIOSXEDriver, transport asynctelnet (the seeds'
              way for Telnet devices): login, enable (auth_secondary),
              terminal length 0 / width 512 (its on_open), asyncio.Semaphore

Prints wall time, client CPU seconds per check, peak RSS, and how many
devices each client found up; the simulator's own CPU is printed apart.
Before the sweep, scrapli (cisco_iosxe, asynctelnet) logs in to R1, enables
and runs `show version`: the simulator is realistic enough for it.
The Python client runs from a throwaway venv (created in --venv with
`python3 -m venv` and `pip install 'scrapli<2026'` if it lacks it; scrapli
2026 is a different, Zig-based library). Prints a table; asserts nothing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssh import REACHD, measured, proc_cpu, raise_nofile, table  # noqa: E402

COMPAT = r'''
import asyncio, json, sys
dev = json.load(open(sys.argv[1]))[0]

async def with_scrapli():
    from scrapli.driver.core import AsyncIOSXEDriver
    async with AsyncIOSXEDriver(
        host=dev["host"], port=dev["port"], auth_username=dev["user"],
        auth_password=dev["password"], auth_secondary=dev["secret"],
        transport="asynctelnet",
    ) as conn:
        r = await conn.send_command("show version")
        return await conn.get_prompt(), r.result.splitlines()[0]

try:
    prompt, line = asyncio.run(with_scrapli())
    print(f"scrapli cisco_iosxe (asynctelnet): logged in, prompt {prompt}, show version: {line}")
except Exception as e:
    print(f"scrapli cisco_iosxe (asynctelnet): FAILED: {e!r}")
'''

SCRAPLI_CLIENT = r'''
import asyncio, json, sys
from scrapli.driver.core import AsyncIOSXEDriver

async def check(dev, sem):
    async with sem:
        try:
            conn = AsyncIOSXEDriver(
                host=dev["host"], port=dev["port"], auth_username=dev["user"],
                auth_password=dev["password"], auth_secondary=dev["secret"],
                transport="asynctelnet",
                timeout_socket=10, timeout_transport=10, timeout_ops=10,
            )
            async with conn:
                prompt = await conn.get_prompt()
                return prompt.endswith("#")
        except Exception as e:
            if len(sys.argv) > 3:
                print(dev["host"], repr(e), file=sys.stderr)
            return False

async def main():
    devs = json.load(open(sys.argv[1]))
    sem = asyncio.Semaphore(int(sys.argv[2]))
    results = await asyncio.gather(*(check(d, sem) for d in devs))
    print(sum(results))

asyncio.run(main())
'''


def ensure_venv(path):
    py = os.path.join(path, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "from scrapli.driver.core import AsyncIOSXEDriver"],
        capture_output=True).returncode == 0
    if not ok:
        print(f"creating a throwaway venv in {path} (scrapli)…", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([os.path.join(path, "bin", "pip"), "install", "-q", "scrapli<2026"],
                       check=True)
    return py


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--port", type=int, default=2323)
    ap.add_argument("--base", default="127.0.1.1")
    ap.add_argument("--venv", default=os.path.join(tempfile.gettempdir(), "reachd-ssh-bench-venv"))
    ap.add_argument("--no-scrapli", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(REACHD):
        sys.exit(f"{REACHD} missing: run `cargo build --release` first")
    py = None if args.no_scrapli else ensure_venv(args.venv)

    d = tempfile.mkdtemp(prefix="reachd-telnet-bench-")
    sim = None
    try:
        inv = os.path.join(d, "sim.yaml")
        sim = subprocess.Popen(
            [REACHD, "sim", "--no-ssh", "--devices", str(args.devices), "--base", args.base,
             "--telnet-port", str(args.port), "--inventory-out", inv],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=raise_nofile)
        for _ in range(200):
            if os.path.exists(inv) or sim.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(inv):
            sys.exit(f"reachd sim did not start: {sim.stderr.read().decode()}")
        time.sleep(0.2)
        main_cfg = os.path.join(d, "reachd.yaml")
        with open(main_cfg, "w") as f:
            f.write(f"""defaults:
  telnet:
    concurrency: {args.concurrency}
    timeout: 20s
    connect_timeout: 10s
    read_timeout: 5s
inventory:
  - {inv}
""")
        # The same devices for the Python client.
        devs = []
        host = None
        for line in open(inv):
            line = line.strip()
            if line.startswith("address:"):
                host = line.split('"')[1]
            elif line.startswith("telnet:"):
                port = int(line.split("port:")[1].split("}")[0].split(",")[0])
                devs.append({"host": host, "port": port, "user": "admin", "password": "admin",
                             "secret": "cisco"})
        devs_json = os.path.join(d, "devices.json")
        json.dump(devs, open(devs_json, "w"))
        for name, src in (("scrapli_client.py", SCRAPLI_CLIENT), ("compat.py", COMPAT)):
            open(os.path.join(d, name), "w").write(src)
        if py:
            print("Python client against the simulator:")
            r = subprocess.run([py, os.path.join(d, "compat.py"), devs_json], capture_output=True,
                               text=True, timeout=120)
            print("  " + "\n  ".join(r.stdout.strip().splitlines()) + (r.stderr[-500:] if r.returncode else ""))

        rows = []
        clients = [("reachd check", [REACHD, "check", "--config", main_cfg, "--format", "json"])]
        if py:
            clients.append(("scrapli+asynctelnet", [py, os.path.join(d, "scrapli_client.py"), devs_json,
                                                    str(args.concurrency)]))
        sim_rows = []
        for label, cmd in clients:
            sim_before = proc_cpu(sim.pid)
            wall, cpu, rss, out, err = measured(cmd)
            sim_cpu = proc_cpu(sim.pid) - sim_before
            if label.startswith("reachd"):
                up = sum(1 for l in out.splitlines() if '"up":true' in l)
            else:
                try:
                    up = int(out.strip().splitlines()[-1])
                except (ValueError, IndexError):
                    up = 0
                    print(f"{label} failed: {err[-2000:]}", file=sys.stderr)
            rows.append([label, args.devices, args.concurrency, f"{wall:.2f}", f"{cpu:.2f}",
                         f"{cpu / args.devices * 1000:.2f}", f"{rss:.0f}", up])
            sim_rows.append((label, sim_cpu))
        print(f"\nTelnet sweep: {args.devices} simulated devices, concurrency {args.concurrency}, "
              f"{os.cpu_count()} CPUs\n")
        table(rows, ["client", "devices", "conc.", "wall s", "client CPU s", "CPU ms/check",
                     "peak RSS MiB", "up"])
        base = float(rows[0][4]) or 1e-9
        print()
        for r in rows[1:]:
            print(f"{r[0]}: {float(r[4]) / base:.1f}x reachd's client CPU")
        print("simulator CPU during each sweep: " +
              ", ".join(f"{label} {c:.2f}s" for label, c in sim_rows))
    finally:
        if sim is not None:
            sim.terminate()
            try:
                sim.wait(timeout=5)
            except subprocess.TimeoutExpired:
                sim.kill()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
