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
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (COMPAT_RUN, REACHD, ensure_venv, parse_args, run_compat, scrapli_client,  # noqa: E402
                    scrapli_compat, simulator, sweep, write_config, write_devices, write_scripts)

COMPAT = scrapli_compat('transport="asynctelnet",') + r'''
compat_clients = (("scrapli cisco_iosxe (asynctelnet)", lambda: asyncio.run(with_scrapli())),)
''' + COMPAT_RUN

SCRAPLI_CLIENT = scrapli_client('transport="asynctelnet",')


def main():
    args = parse_args(__doc__, 2323)
    py = None if args.no_scrapli else ensure_venv(
        args.venv, "from scrapli.driver.core import AsyncIOSXEDriver", "scrapli", ["scrapli<2026"])

    with simulator("reachd-telnet-bench-", ["--no-ssh", "--devices", str(args.devices), "--base", args.base,
                                            "--telnet-port", str(args.port)]) as (d, sim, inv):
        main_cfg = write_config(d, "telnet", args.concurrency, inv)
        # The same devices for the Python client.
        devs_json = write_devices(d, inv, "telnet")
        write_scripts(d, (("scrapli_client.py", SCRAPLI_CLIENT), ("compat.py", COMPAT)))
        if py:
            run_compat(py, d, devs_json, "Python client against the simulator:")

        clients = [("reachd check", [REACHD, "check", "--config", main_cfg, "--format", "json"])]
        if py:
            clients.append(("scrapli+asynctelnet", [py, os.path.join(d, "scrapli_client.py"), devs_json,
                                                    str(args.concurrency)]))
        sweep(sim, clients, args.devices, args.concurrency, "Telnet")


if __name__ == "__main__":
    main()
