"""Shared by the benchmarks (bench/ssh.py, bench/telnet.py, bench/soak.py): the
command line, the throwaway venv, `reachd sim` start and stop, the measured
child processes, /proc sampling, small HTTP and Prometheus-text helpers and
the table."""
import argparse
import contextlib
import ipaddress
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# REACHD_BIN compares another build (e.g. before and after a change).
REACHD = os.environ.get("REACHD_BIN") or os.path.join(ROOT, "target", "release", "reachd")

# The end of every Python client: check all devices behind a semaphore, print
# how many are up.
CLIENT_MAIN = r'''
async def main():
    devs = json.load(open(sys.argv[1]))
    sem = asyncio.Semaphore(int(sys.argv[2]))
    results = await asyncio.gather(*(check(d, sem) for d in devs))
    print(sum(results))

asyncio.run(main())
'''


def scrapli_client(transport_opts):
    """Source of the scrapli AsyncIOSXEDriver client; transport_opts are the
    driver's keyword arguments on the transport line (e.g. `transport="asynctelnet",`)."""
    return r'''
import asyncio, json, sys
from scrapli.driver.core import AsyncIOSXEDriver

async def check(dev, sem):
    async with sem:
        try:
            conn = AsyncIOSXEDriver(
                host=dev["host"], port=dev["port"], auth_username=dev["user"],
                auth_password=dev["password"], auth_secondary=dev["secret"],
                ''' + transport_opts + r'''
                timeout_socket=10, timeout_transport=10, timeout_ops=10,
            )
            async with conn:
                prompt = await conn.get_prompt()
                return prompt.endswith("#")
        except Exception as e:
            if len(sys.argv) > 3:
                print(dev["host"], repr(e), file=sys.stderr)
            return False
''' + CLIENT_MAIN


def scrapli_compat(transport_opts):
    """Start of the compat script: reads the first device and defines
    with_scrapli(), which logs in with AsyncIOSXEDriver (transport_opts as in
    scrapli_client), runs `show version` and returns (prompt, its first line)."""
    return r'''
import asyncio, json, sys
dev = json.load(open(sys.argv[1]))[0]

async def with_scrapli():
    from scrapli.driver.core import AsyncIOSXEDriver
    async with AsyncIOSXEDriver(
        host=dev["host"], port=dev["port"], auth_username=dev["user"],
        auth_password=dev["password"], auth_secondary=dev["secret"],
        ''' + transport_opts + r'''
    ) as conn:
        r = await conn.send_command("show version")
        return await conn.get_prompt(), r.result.splitlines()[0]
'''


# The end of every compat script: each (name, function) in compat_clients logs
# in and returns (prompt, first line of `show version`); print what happened.
COMPAT_RUN = r'''
for name, f in compat_clients:
    try:
        prompt, line = f()
        print(f"{name}: logged in, prompt {prompt}, show version: {line}")
    except Exception as e:
        print(f"{name}: FAILED: {e!r}")
'''


def parse_args(doc, port):
    """The options both benchmarks take; exits if reachd is not built."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--port", type=int, default=port)
    ap.add_argument("--base", default="127.0.1.1")
    ap.add_argument("--venv", default=os.path.join(tempfile.gettempdir(), "reachd-ssh-bench-venv"))
    ap.add_argument("--no-scrapli", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(REACHD):
        sys.exit(f"{REACHD} missing: run `cargo build --release` first")
    return args


def raise_nofile():
    """Raises this process's RLIMIT_NOFILE soft limit to its hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def require_loopback(addr, what):
    """Exits unless addr is an IPv4 address in 127.0.0.0/8: the benchmarks
    never talk to anything else."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        sys.exit(f"{what} {addr!r} is not an IP address (loopback 127.0.0.0/8 only)")
    if ip.version != 4 or not ip.is_loopback:
        sys.exit(f"{what} {addr} is not in 127.0.0.0/8: the benchmarks use loopback only")
    return str(ip)


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on at host right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS (MiB) and Threads of a process from /proc/PID/status, or None
    if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key == "VmRSS":
            out["rss_mib"] = int(val.split()[0]) / 1024
        elif key == "Threads":
            out["threads"] = int(val)
    return out


def open_fds(pid):
    """How many file descriptors a process has open (/proc/PID/fd), or None."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def nofile_limit(pid):
    """A process's RLIMIT_NOFILE soft limit (/proc/PID/limits), or None."""
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def http_get(host, port, path, timeout):
    """GET http://host:port/path with one socket timeout; returns (status,
    body bytes). Raises OSError (including socket.timeout) on failure."""
    require_loopback(host, "HTTP host")
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"GET {path}: no full answer within {timeout}s")
            s.settimeout(left)
            b = s.recv(1 << 20)
            if not b:
                break
            chunks.append(b)
    data = b"".join(chunks)
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError(f"GET {path}: incomplete answer ({len(data)} bytes)")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise ConnectionError(f"GET {path}: bad status line {head[:40]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return status, body


def dechunk(body):
    """The payload of an HTTP/1.1 chunked body."""
    out, pos = [], 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            break
        size = int(body[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(body[end + 2:end + 2 + size])
        pos = end + 2 + size + 2
    return b"".join(out)


def prom_sum(text, name, **labels):
    """Sum of the samples of metric `name` in Prometheus text whose labels
    include `labels`; None if there is no such sample."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name):len(name) + 1] not in ("{", " "):
            continue
        series, _, value = line.rpartition(" ")
        if any(f'{k}="{v}"' not in series for k, v in labels.items()):
            continue
        total += float(value)
        seen = True
    return total if seen else None


def percentile(values, p):
    """The p-th percentile (0..100, nearest rank) of values; None if empty."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v), max(1, math.ceil(p / 100 * len(v)))) - 1]


def measured(cmd, env=None):
    """Runs cmd; returns its wall and CPU seconds, peak RSS MiB, stdout,
    stderr and exit code (keys wall, cpu, rss_mib, out, err, code)."""
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
    # wait4 gives this child's own rusage (CPU and peak RSS).
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    for t in threads:
        t.join()
    return {
        "wall": wall,
        "cpu": ru.ru_utime + ru.ru_stime,
        "rss_mib": ru.ru_maxrss / 1024,
        "out": b"".join(out).decode(errors="replace"),
        "err": b"".join(err).decode(errors="replace"),
        "code": os.waitstatus_to_exitcode(status),
    }


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def ensure_venv(path, probe, what, packages):
    """The venv's python; creates the venv in path and pip-installs packages
    unless `python -c probe` already succeeds there. what names them on stderr."""
    py = os.path.join(path, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", probe], capture_output=True).returncode == 0
    if not ok:
        print(f"creating a throwaway venv in {path} ({what})…", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([os.path.join(path, "bin", "pip"), "install", "-q", *packages], check=True)
    return py


@contextlib.contextmanager
def simulator(prefix, sim_args, reachd=REACHD, start_timeout=10):
    """Starts `reachd sim <sim_args> --inventory-out DIR/sim.yaml` (reachd:
    the binary) in a fresh temporary directory; yields (dir, sim process,
    inventory path), then stops the simulator and removes the directory."""
    d = tempfile.mkdtemp(prefix=prefix)
    sim = None
    try:
        inv = os.path.join(d, "sim.yaml")
        # stderr to a file, not a pipe nobody reads while the sim runs.
        err_path = os.path.join(d, "sim.stderr")
        with open(err_path, "wb") as err:
            sim = subprocess.Popen(
                [reachd, "sim", *sim_args, "--inventory-out", inv],
                stdout=subprocess.DEVNULL, stderr=err, preexec_fn=raise_nofile)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if os.path.exists(inv) or sim.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(inv):
            if sim.poll() is None:
                sim.kill()
            sim.wait()
            sys.exit(f"reachd sim did not start: {open(err_path, errors='replace').read()}")
        time.sleep(0.2)
        yield d, sim, inv
    finally:
        if sim is not None:
            sim.terminate()
            try:
                sim.wait(timeout=5)
            except subprocess.TimeoutExpired:
                sim.kill()
        shutil.rmtree(d, ignore_errors=True)


def write_config(d, protocol, concurrency, inv):
    """Writes DIR/reachd.yaml checking inv over protocol; returns its path."""
    main_cfg = os.path.join(d, "reachd.yaml")
    with open(main_cfg, "w") as f:
        f.write(f"""defaults:
  {protocol}:
    concurrency: {concurrency}
    timeout: 20s
    connect_timeout: 10s
    read_timeout: 5s
inventory:
  - {inv}
""")
    return main_cfg


def write_devices(d, inv, protocol):
    """The simulator's devices (their protocol port) as DIR/devices.json for
    the Python clients; returns its path."""
    devs = []
    host = None
    for line in open(inv):
        line = line.strip()
        if line.startswith("address:"):
            host = line.split('"')[1]
        elif line.startswith(f"{protocol}:"):
            port = int(line.split("port:")[1].split("}")[0].split(",")[0])
            devs.append({"host": host, "port": port, "user": "admin", "password": "admin",
                         "secret": "cisco"})
    devs_json = os.path.join(d, "devices.json")
    json.dump(devs, open(devs_json, "w"))
    return devs_json


def write_scripts(d, scripts):
    """Writes each (file name, source) into d."""
    for name, src in scripts:
        open(os.path.join(d, name), "w").write(src)


def run_compat(py, d, devs_json, heading):
    """Runs DIR/compat.py (log in, show version) and prints what it says."""
    print(heading)
    r = subprocess.run([py, os.path.join(d, "compat.py"), devs_json], capture_output=True,
                       text=True, timeout=120)
    print("  " + "\n  ".join(r.stdout.strip().splitlines()) + (r.stderr[-500:] if r.returncode else ""))


def sweep(sim, clients, devices, concurrency, title):
    """Runs each (label, cmd) in turn, measured, and prints the table, each
    client's CPU against reachd's (the first) and the simulator's CPU."""
    rows = []
    sim_rows = []
    for label, cmd in clients:
        sim_before = proc_cpu(sim.pid)
        m = measured(cmd)
        wall, cpu, rss, out, err = m["wall"], m["cpu"], m["rss_mib"], m["out"], m["err"]
        sim_cpu = proc_cpu(sim.pid) - sim_before
        if label.startswith("reachd"):
            up = sum(1 for l in out.splitlines() if '"up":true' in l)
        else:
            try:
                up = int(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                up = 0
                print(f"{label} failed: {err[-2000:]}", file=sys.stderr)
        rows.append([label, devices, concurrency, f"{wall:.2f}", f"{cpu:.2f}",
                     f"{cpu / devices * 1000:.2f}", f"{rss:.0f}", up])
        sim_rows.append((label, sim_cpu))
    print(f"\n{title} sweep: {devices} simulated devices, concurrency {concurrency}, "
          f"{os.cpu_count()} CPUs\n")
    table(rows, ["client", "devices", "conc.", "wall s", "client CPU s", "CPU ms/check",
                 "peak RSS MiB", "up"])
    base = float(rows[0][4]) or 1e-9
    print()
    for r in rows[1:]:
        print(f"{r[0]}: {float(r[4]) / base:.1f}x reachd's client CPU")
    print("simulator CPU during each sweep: " +
          ", ".join(f"{label} {c:.2f}s" for label, c in sim_rows))
