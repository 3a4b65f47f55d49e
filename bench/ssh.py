#!/usr/bin/env python3
"""SSH benchmark: reachd beside the seeds' Python approach, same devices, same run.

  cargo build --release
  python3 bench/ssh.py [--devices 1000] [--concurrency 100] [--venv DIR] [--no-scrapli]

Starts `reachd sim` with N simulated Cisco-like devices on 127.0.1.1… (one
address each, port 2222, loopback only), then sweeps them once with each
client at the same concurrency, one after the other:

  reachd      `reachd check` (full dialogue: login, R1>, enable, R1#,
              terminal length 0)
  asyncssh    the seeds' script: asyncssh, PTY, readuntil('>'), enable,
              readuntil('Password'), secret, readuntil('#'), terminal length
              0, readuntil('#'), asyncio.Semaphore
  scrapli     scrapli AsyncIOSXEDriver, transport asyncssh (the seeds'
              other way); also shows scrapli logs in to the simulator

Prints wall time, client CPU seconds per check, peak RSS, and how many
devices each client found up; the simulator's own CPU is printed apart.
Before the sweep, scrapli (cisco_iosxe, asyncssh transport) and netmiko
(cisco_ios) each log in to R1, enable, and run `show version`: the
simulator is realistic enough for both, unchanged.
The Python clients run from a throwaway venv (created in --venv with
`python3 -m venv` and `pip install asyncssh 'scrapli<2026' netmiko` if it
lacks them; scrapli 2026 is a different, Zig-based library).
Prints a table; asserts nothing.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REACHD = os.path.join(ROOT, "target", "release", "reachd")

ASYNCSSH_CLIENT = r'''
import asyncio, json, sys
import asyncssh

async def check(dev, sem):
    async with sem:
        try:
            async with asyncssh.connect(
                dev["host"], port=dev["port"], username=dev["user"], password=dev["password"],
                known_hosts=None, encryption_algs="+aes128-cbc,aes256-cbc",
                connect_timeout=10,
            ) as conn:
                writer, reader, _ = await conn.open_session(term_type="Dumb", term_size=(200, 24))
                await asyncio.wait_for(reader.readuntil(">"), 5)
                writer.write("enable\n")
                await asyncio.wait_for(reader.readuntil("Password"), 5)
                writer.write(dev["secret"] + "\n")
                out = await asyncio.wait_for(reader.readuntil("#"), 5)
                writer.write("terminal length 0\n")
                await asyncio.wait_for(reader.readuntil("#"), 5)
                return True
        except Exception as e:  # failures are data, as in the seeds
            return False

async def main():
    devs = json.load(open(sys.argv[1]))
    sem = asyncio.Semaphore(int(sys.argv[2]))
    results = await asyncio.gather(*(check(d, sem) for d in devs))
    print(sum(results))

asyncio.run(main())
'''

COMPAT = r'''
import asyncio, json, sys
dev = json.load(open(sys.argv[1]))[0]

async def with_scrapli():
    from scrapli.driver.core import AsyncIOSXEDriver
    async with AsyncIOSXEDriver(
        host=dev["host"], port=dev["port"], auth_username=dev["user"],
        auth_password=dev["password"], auth_secondary=dev["secret"],
        auth_strict_key=False, transport="asyncssh",
    ) as conn:
        r = await conn.send_command("show version")
        return await conn.get_prompt(), r.result.splitlines()[0]

def with_netmiko():
    from netmiko import ConnectHandler
    c = ConnectHandler(device_type="cisco_ios", host=dev["host"], port=dev["port"],
                       username=dev["user"], password=dev["password"], secret=dev["secret"])
    c.enable()
    out = c.send_command("show version").splitlines()[0]
    prompt = c.find_prompt()
    c.disconnect()
    return prompt, out

for name, f in (("scrapli cisco_iosxe (asyncssh)", lambda: asyncio.run(with_scrapli())),
                ("netmiko cisco_ios", with_netmiko)):
    try:
        prompt, line = f()
        print(f"{name}: logged in, prompt {prompt}, show version: {line}")
    except Exception as e:
        print(f"{name}: FAILED: {e!r}")
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
                auth_strict_key=False, transport="asyncssh",
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


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def measured(cmd, env=None):
    """Runs cmd; returns (wall s, CPU s, peak RSS MiB, stdout, stderr)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=raise_nofile, env=env)
    out, err = [], []

    def pump(src, sink):
        for chunk in iter(lambda: src.read(65536), b""):
            sink.append(chunk)

    threads = [threading.Thread(target=pump, args=(proc.stdout, out)),
               threading.Thread(target=pump, args=(proc.stderr, err))]
    for t in threads:
        t.start()
    _, _status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    for t in threads:
        t.join()
    cpu = ru.ru_utime + ru.ru_stime
    return wall, cpu, ru.ru_maxrss / 1024, b"".join(out).decode(), b"".join(err).decode()


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for r in [headers] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def ensure_venv(path):
    py = os.path.join(path, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "import asyncssh, netmiko; from scrapli.driver.core import AsyncIOSXEDriver"],
        capture_output=True).returncode == 0
    if not ok:
        print(f"creating a throwaway venv in {path} (asyncssh, scrapli, netmiko)…", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([os.path.join(path, "bin", "pip"), "install", "-q", "asyncssh",
                        "scrapli<2026", "netmiko"], check=True)
    return py


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--port", type=int, default=2222)
    ap.add_argument("--base", default="127.0.1.1")
    ap.add_argument("--venv", default=os.path.join(tempfile.gettempdir(), "reachd-ssh-bench-venv"))
    ap.add_argument("--no-scrapli", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(REACHD):
        sys.exit(f"{REACHD} missing: run `cargo build --release` first")
    py = ensure_venv(args.venv)

    d = tempfile.mkdtemp(prefix="reachd-ssh-bench-")
    sim = None
    try:
        inv = os.path.join(d, "sim.yaml")
        sim = subprocess.Popen(
            [REACHD, "sim", "--devices", str(args.devices), "--base", args.base,
             "--port", str(args.port), "--inventory-out", inv],
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
  ssh:
    concurrency: {args.concurrency}
    timeout: 20s
    connect_timeout: 10s
    read_timeout: 5s
inventory:
  - {inv}
""")
        # The same devices for the Python clients.
        import json
        devs = []
        host = None
        for line in open(inv):
            line = line.strip()
            if line.startswith("address:"):
                host = line.split('"')[1]
            elif line.startswith("ssh:"):
                port = int(line.split("port:")[1].split(",")[0])
                devs.append({"host": host, "port": port, "user": "admin", "password": "admin",
                             "secret": "cisco"})
        devs_json = os.path.join(d, "devices.json")
        json.dump(devs, open(devs_json, "w"))
        for name, src in (("asyncssh_client.py", ASYNCSSH_CLIENT), ("scrapli_client.py", SCRAPLI_CLIENT),
                          ("compat.py", COMPAT)):
            open(os.path.join(d, name), "w").write(src)
        print("Python clients against the simulator:")
        r = subprocess.run([py, os.path.join(d, "compat.py"), devs_json], capture_output=True,
                           text=True, timeout=120)
        print("  " + "\n  ".join(r.stdout.strip().splitlines()) + (r.stderr[-500:] if r.returncode else ""))

        rows = []
        clients = [
            ("reachd check", [REACHD, "check", "--config", main_cfg, "--format", "json"]),
            ("asyncssh (seeds)", [py, os.path.join(d, "asyncssh_client.py"), devs_json, str(args.concurrency)]),
        ]
        if not args.no_scrapli:
            clients.append(("scrapli+asyncssh", [py, os.path.join(d, "scrapli_client.py"), devs_json,
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
        print(f"\nSSH sweep: {args.devices} simulated devices, concurrency {args.concurrency}, "
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
