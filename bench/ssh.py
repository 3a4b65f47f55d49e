#!/usr/bin/env python3
"""SSH benchmark: reachd beside the seeds' Python approach, same devices, same run.

  cargo build --release
  python3 bench/ssh.py [--devices 1000] [--concurrency 100] [--venv DIR] [--no-scrapli]

Starts `reachd sim --no-telnet` with N simulated Cisco-like SSH devices on 127.0.1.1… (one
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
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (CLIENT_MAIN, COMPAT_RUN, REACHD, ensure_venv, parse_args, run_compat,  # noqa: E402
                    scrapli_client, scrapli_compat, simulator, sweep, write_config,
                    write_devices, write_scripts)

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
''' + CLIENT_MAIN

COMPAT = scrapli_compat('auth_strict_key=False, transport="asyncssh",') + r'''
def with_netmiko():
    from netmiko import ConnectHandler
    c = ConnectHandler(device_type="cisco_ios", host=dev["host"], port=dev["port"],
                       username=dev["user"], password=dev["password"], secret=dev["secret"])
    c.enable()
    out = c.send_command("show version").splitlines()[0]
    prompt = c.find_prompt()
    c.disconnect()
    return prompt, out

compat_clients = (("scrapli cisco_iosxe (asyncssh)", lambda: asyncio.run(with_scrapli())),
                  ("netmiko cisco_ios", with_netmiko))
''' + COMPAT_RUN

SCRAPLI_CLIENT = scrapli_client('auth_strict_key=False, transport="asyncssh",')


def main():
    args = parse_args(__doc__, 2222)
    py = ensure_venv(args.venv,
                     "import asyncssh, netmiko; from scrapli.driver.core import AsyncIOSXEDriver",
                     "asyncssh, scrapli, netmiko", ["asyncssh", "scrapli<2026", "netmiko"])

    with simulator("reachd-ssh-bench-", ["--no-telnet", "--devices", str(args.devices), "--base", args.base,
                                         "--port", str(args.port)]) as (d, sim, inv):
        main_cfg = write_config(d, "ssh", args.concurrency, inv)
        # The same devices for the Python clients.
        devs_json = write_devices(d, inv, "ssh")
        write_scripts(d, (("asyncssh_client.py", ASYNCSSH_CLIENT), ("scrapli_client.py", SCRAPLI_CLIENT),
                          ("compat.py", COMPAT)))
        run_compat(py, d, devs_json, "Python clients against the simulator:")

        clients = [
            ("reachd check", [REACHD, "check", "--config", main_cfg, "--format", "json"]),
            ("asyncssh (seeds)", [py, os.path.join(d, "asyncssh_client.py"), devs_json, str(args.concurrency)]),
        ]
        if not args.no_scrapli:
            clients.append(("scrapli+asyncssh", [py, os.path.join(d, "scrapli_client.py"), devs_json,
                                                 str(args.concurrency)]))
        sweep(sim, clients, args.devices, args.concurrency, "SSH")


if __name__ == "__main__":
    main()
