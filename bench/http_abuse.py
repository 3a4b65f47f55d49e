#!/usr/bin/env python3
"""A rude HTTP client for reachd's listener (loopback only), used by bench/soak.py.

  python3 bench/http_abuse.py --port 9806 --seconds 120 [--idle 2000] [--slowloris 200]
        [--slow-every 5] [--burst 500] [--burst-every 30] [--burst-first 15]
        [--scrape-every 5] [--timeout 30] [--out report.json]

For --seconds, at the same time (one asyncio loop, one process):

  idle        holds --idle TCP connections open that never send a byte; one
              the server closes is counted and opened again 5 s later
  slowloris   --slowloris connections that send the start of a request and
              then one more header byte every --slow-every seconds, never
              finishing it; one the server closes is counted (with how long
              it lived) and opened again
  bursts      every --burst-every seconds (first at --burst-first), --burst
              concurrent `GET /metrics`, each read to the end; a burst still
              running when the next is due makes that one skipped
  scrapes     every --scrape-every seconds, `GET /metrics`, `/` and
              `/api/v1/status` one after the other, as Prometheus and a
              browser would

Everything is bounded: every connect, read and request has a timeout
(--timeout), the counts are fixed, and the process ends by itself at
--seconds (plus at most --timeout to finish a burst), on SIGTERM/SIGINT
(with its report), and in any case alarm(2) kills it 2×--timeout + 60 s
after that. It raises its own RLIMIT_NOFILE soft limit to the hard limit.
Only addresses in 127.0.0.0/8 are accepted.

Prints one JSON report on stdout (or writes it to --out): per kind, what it
did and which errors it saw (`requests`, `errors` in total).
"""
import argparse
import asyncio
import collections
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import percentile, raise_nofile, require_loopback  # noqa: E402


def err_name(e):
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, OSError) and e.errno is not None:
        return os.strerror(e.errno)
    return type(e).__name__


class Abuse:
    def __init__(self, a):
        self.a = a
        self.start = time.monotonic()
        self.deadline = self.start + a.seconds
        self.stop = asyncio.Event()
        self.idle = {"target": a.idle, "opened": 0, "connect_errors": collections.Counter(),
                     "closed_by_server": 0, "closed_after_s": [], "open_now": 0, "open_max": 0}
        self.slow = {"target": a.slowloris, "opened": 0, "connect_errors": collections.Counter(),
                     "closed_by_server": 0, "closed_after_s": [], "bytes_sent": 0, "open_now": 0,
                     "open_max": 0}
        self.bursts = []
        self.bursts_skipped = 0
        self.scrapes = {p: {"ok": 0, "errors": collections.Counter(), "ms": []}
                        for p in ("/metrics", "/", "/api/v1/status")}

    def left(self):
        return self.deadline - time.monotonic()

    async def sleep(self, seconds):
        """Sleeps, or returns False at once when the run stops."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, min(seconds, self.left())))
        except asyncio.TimeoutError:
            pass
        return not self.stop.is_set() and self.left() > 0

    async def connect(self):
        return await asyncio.wait_for(asyncio.open_connection(self.a.host, self.a.port),
                                      timeout=min(self.a.timeout, 10))

    # --- idle connections ---------------------------------------------------
    async def open_counted(self, st):
        """A connection for an idle or slowloris slot, counted in `st`; None
        (and the error counted) if it could not be opened."""
        try:
            r, w = await self.connect()
        except Exception as e:  # noqa: BLE001 (every failure is data)
            st["connect_errors"][err_name(e)] += 1
            return None
        st["opened"] += 1
        st["open_now"] += 1
        st["open_max"] = max(st["open_max"], st["open_now"])
        return r, w

    async def idle_slot(self):
        st = self.idle
        while not self.stop.is_set() and self.left() > 0:
            opened = await self.open_counted(st)
            if opened is None:
                if not await self.sleep(5):
                    return
                continue
            r, w = opened
            t0 = time.monotonic()
            closed = False
            try:
                read = asyncio.ensure_future(r.read(1))
                stop = asyncio.ensure_future(self.stop.wait())
                done, _ = await asyncio.wait({read, stop}, timeout=max(0.0, self.left()),
                                             return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                # Data, EOF or an error: the server ended the idle connection.
                closed = read in done
                if not closed:
                    read.cancel()
            finally:
                st["open_now"] -= 1
                w.close()
            if closed:
                st["closed_by_server"] += 1
                st["closed_after_s"].append(time.monotonic() - t0)
                if not await self.sleep(5):
                    return
            else:
                return

    # --- slowloris ----------------------------------------------------------
    async def slow_slot(self, i):
        st = self.slow
        # Spread the first connects and the drip over the period.
        if not await self.sleep(self.a.slow_every * i / max(1, self.a.slowloris)):
            return
        while not self.stop.is_set() and self.left() > 0:
            opened = await self.open_counted(st)
            if opened is None:
                if not await self.sleep(5):
                    return
                continue
            r, w = opened
            t0 = time.monotonic()
            closed = False
            read = asyncio.ensure_future(r.read(1))
            try:
                head = f"GET /metrics HTTP/1.1\r\nHost: {self.a.host}\r\nX-Slow: ".encode()
                w.write(head)
                st["bytes_sent"] += len(head)
                while True:
                    # Whatever the server says (an error page, or EOF) ends it.
                    done, _ = await asyncio.wait({read}, timeout=max(0.0, min(self.a.slow_every,
                                                                              self.left())))
                    if read in done:
                        closed = True
                        break
                    if self.stop.is_set() or self.left() <= 0:
                        break
                    try:
                        w.write(b"a")
                        await asyncio.wait_for(w.drain(), timeout=self.a.timeout)
                        st["bytes_sent"] += 1
                    except Exception:  # noqa: BLE001 (a reset or a full buffer: the server gave up)
                        closed = True
                        break
            finally:
                read.cancel()
                st["open_now"] -= 1
                w.close()
            if not closed:
                return
            st["closed_by_server"] += 1
            st["closed_after_s"].append(time.monotonic() - t0)
            if not await self.sleep(1):
                return

    # --- one GET, read to the end -----------------------------------------
    async def get(self, path, timeout):
        """(ms, None) or (ms, error name)."""
        t0 = time.monotonic()

        async def go():
            r, w = await self.connect()
            try:
                w.write(f"GET {path} HTTP/1.1\r\nHost: {self.a.host}:{self.a.port}\r\n"
                        "Connection: close\r\n\r\n".encode())
                await w.drain()
                head = await r.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                n = 0
                while True:
                    b = await r.read(1 << 20)
                    if not b:
                        break
                    n += len(b)
                if status != 200:
                    return f"status {status}"
                if n == 0:
                    return "empty body"
                return None
            finally:
                w.close()

        try:
            err = await asyncio.wait_for(go(), timeout=timeout)
        except asyncio.IncompleteReadError:
            err = "closed before the headers"
        except Exception as e:  # noqa: BLE001
            err = err_name(e)
        return (time.monotonic() - t0) * 1000, err

    # --- bursts of concurrent scrapes --------------------------------------
    async def bursts_loop(self):
        if self.a.burst <= 0:
            return
        if not await self.sleep(self.a.burst_first):
            return
        running = None
        while True:
            if running is not None and not running.done():
                self.bursts_skipped += 1
            else:
                running = asyncio.ensure_future(self.burst())
            if not await self.sleep(self.a.burst_every):
                break
        if running is not None:
            await running

    async def burst(self):
        at = time.monotonic() - self.start
        t0 = time.monotonic()
        results = await asyncio.gather(*(self.get("/metrics", self.a.timeout)
                                         for _ in range(self.a.burst)))
        errors = collections.Counter(e for _, e in results if e)
        ms = [m for m, e in results if not e]
        self.bursts.append({"at_s": round(at, 1), "n": self.a.burst,
                            "ok": self.a.burst - sum(errors.values()),
                            "errors": dict(errors), "seconds": round(time.monotonic() - t0, 2),
                            "ok_ms_p50": percentile(ms, 50), "ok_ms_max": max(ms) if ms else None})

    # --- normal scrapes -----------------------------------------------------
    async def scrapes_loop(self):
        while not self.stop.is_set() and self.left() > 0:
            for path, st in self.scrapes.items():
                ms, err = await self.get(path, min(10, self.a.timeout))
                if err:
                    st["errors"][err] += 1
                else:
                    st["ok"] += 1
                    st["ms"].append(ms)
            if not await self.sleep(self.a.scrape_every):
                return

    async def run(self):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        tasks = [asyncio.ensure_future(self.scrapes_loop()),
                 asyncio.ensure_future(self.bursts_loop())]
        tasks += [asyncio.ensure_future(self.slow_slot(i)) for i in range(self.a.slowloris)]
        # Idle connections in batches of 100, so connects do not all pile up at once.
        for i in range(0, self.a.idle, 100):
            tasks += [asyncio.ensure_future(self.idle_slot()) for _ in range(min(100, self.a.idle - i))]
            await asyncio.sleep(0.05)
        try:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True),
                                   timeout=self.a.seconds + self.a.timeout + 15)
        except asyncio.TimeoutError:
            pass
        self.stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return self.report()

    def report(self):
        def conn_part(st):
            after = st.pop("closed_after_s")
            st["connect_errors"] = dict(st["connect_errors"])
            st["closed_after_s_p50"] = percentile(after, 50)
            st["closed_after_s_max"] = max(after) if after else None
            return st

        scrapes = {}
        for path, st in self.scrapes.items():
            scrapes[path] = {"ok": st["ok"], "errors": dict(st["errors"]),
                             "ms_p50": percentile(st["ms"], 50), "ms_max": max(st["ms"]) if st["ms"] else None}
        requests = (sum(b["n"] for b in self.bursts)
                    + sum(s["ok"] + sum(s["errors"].values()) for s in scrapes.values()))
        errors = (sum(sum(b["errors"].values()) for b in self.bursts)
                  + sum(sum(s["errors"].values()) for s in scrapes.values()))
        return {"seconds": round(time.monotonic() - self.start, 1), "requests": requests,
                "errors": errors, "idle": conn_part(self.idle), "slowloris": conn_part(self.slow),
                "bursts": self.bursts, "bursts_skipped": self.bursts_skipped, "scrapes": scrapes}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--slowloris", type=int, default=200)
    ap.add_argument("--slow-every", type=float, default=5)
    ap.add_argument("--burst", type=int, default=500)
    ap.add_argument("--burst-every", type=float, default=30)
    ap.add_argument("--burst-first", type=float, default=15)
    ap.add_argument("--scrape-every", type=float, default=5)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--out")
    a = ap.parse_args()
    a.host = require_loopback(a.host, "--host")
    raise_nofile()
    # The last resort against hanging: whatever happens, end.
    signal.alarm(int(a.seconds + 2 * a.timeout + 60))
    report = asyncio.run(Abuse(a).run())
    text = json.dumps(report, indent=1)
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            f.write(text)
        os.replace(a.out + ".tmp", a.out)
    else:
        print(text)


if __name__ == "__main__":
    main()
