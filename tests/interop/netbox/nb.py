#!/usr/bin/env python3
"""A tiny NetBox REST client for reachd's shell tests (stdlib only).

    nb.py [--url U] [--token T] COMMAND ...

URL and token default to $NETBOX_URL and $NETBOX_TOKEN_V1 (or $NETBOX_TOKEN_V2),
as written by `lab.sh up DIR` into DIR/env. A token starting with `nbt_` is
sent as `Authorization: Bearer T` (v2), any other as `Authorization: Token T`.

Commands (objects are named by slug; what a device needs is created on the way):
  ensure site|role|platform|tag|manufacturer NAME [--slug S]
  create-device --name r1 --site fra1 --role router [--platform cisco_iosxe]
                [--device-type lab-box] [--ip4 127.0.0.11/32] [--ip6 ::1/128]
                [--interface lo0] [--tags monitored,ssh] [--status active]
                [--local-context '{"reachd": {...}}']
  bulk-devices --count 1200 --prefix bulk --site s --role r [--platform p]
               [--tags t1,t2] [--ip4-from 127.1.0.1] [--chunk 100] [--parallel 4]
  patch-device NAME [--status S] [--site S] [--role R] [--platform P]
               [--tags a,b] [--local-context JSON] [--json '{"field": ...}']
  delete-device NAME            (its IP addresses too)
  delete-devices --prefix P     (bulk: every device whose name starts with P)
  config-context --name N --data JSON [--sites a,b] [--roles r] [--platforms p]
                 [--tags t] [--weight 1000]        (created or updated by name)
  get PATH [--all]              GET, prints JSON (--all: every page's results)
  raw METHOD PATH [JSON]        any request, prints the JSON answer

Every command prints the resulting object(s) as JSON on stdout; an HTTP error
prints the status and NetBox's answer on stderr and exits 1.
"""

import argparse
import ipaddress
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor


class NetBoxError(Exception):
    pass


class NetBox:
    def __init__(self, url, token, timeout=300):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def auth_header(self):
        if self.token.startswith("nbt_"):
            return "Bearer " + self.token
        return "Token " + self.token

    def request(self, method, path, body=None, params=None):
        url = path if path.startswith("http") else self.url + "/api/" + path.lstrip("/")
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", self.auth_header())
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise NetBoxError(f"{method} {url}: HTTP {e.code}: {detail[:2000]}") from None
        except urllib.error.URLError as e:
            raise NetBoxError(f"{method} {url}: {e.reason}") from None
        return json.loads(raw) if raw else None

    def get(self, path, **params):
        return self.request("GET", path, params=params)

    def all(self, path, **params):
        params.setdefault("limit", 1000)
        page = self.get(path, **params)
        out = list(page["results"])
        while page.get("next"):
            page = self.request("GET", page["next"])
            out.extend(page["results"])
        return out

    def one(self, path, **params):
        res = self.get(path, **params)["results"]
        if len(res) > 1:
            raise NetBoxError(f"{path} {params}: {len(res)} matches")
        return res[0] if res else None

    def post(self, path, body):
        return self.request("POST", path, body)

    def patch(self, path, body):
        return self.request("PATCH", path, body)

    def delete(self, path, body=None):
        return self.request("DELETE", path, body)


def slugify(name):
    s = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")
    return s or "x"


# What `ensure` knows: endpoint and extra fields a new object needs.
KINDS = {
    "site": ("dcim/sites/", {"status": "active"}),
    "role": ("dcim/device-roles/", {"color": "2196f3", "vm_role": False}),
    "platform": ("dcim/platforms/", {}),
    "tag": ("extras/tags/", {"color": "4caf50"}),
    "manufacturer": ("dcim/manufacturers/", {}),
}


def ensure(nb, kind, name, slug=None):
    """The object of KIND with this slug (slugified NAME), created if missing."""
    path, extra = KINDS[kind]
    slug = slug or slugify(name)
    obj = nb.one(path, slug=slug)
    if obj is None:
        obj = nb.post(path, dict(extra, name=name, slug=slug))
    return obj


def ensure_device_type(nb, model, manufacturer="lab"):
    slug = slugify(model)
    obj = nb.one("dcim/device-types/", slug=slug)
    if obj is None:
        mf = ensure(nb, "manufacturer", manufacturer)
        obj = nb.post("dcim/device-types/", {"manufacturer": mf["id"], "model": model, "slug": slug})
    return obj


def tag_ids(nb, tags):
    return [{"id": ensure(nb, "tag", t)["id"]} for t in split(tags)]


def split(csv):
    return [x.strip() for x in (csv or "").split(",") if x.strip()]


def find_device(nb, name):
    dev = nb.one("dcim/devices/", name=name)
    if dev is None:
        raise NetBoxError(f"no device named {name!r}")
    return dev


def ensure_interface(nb, device_id, name):
    obj = nb.one("dcim/interfaces/", device_id=device_id, name=name)
    if obj is None:
        obj = nb.post("dcim/interfaces/", {"device": device_id, "name": name, "type": "virtual"})
    return obj


def assign_ip(nb, iface_id, address):
    """The IP ADDRESS (with /len) assigned to the interface, created or moved there."""
    ipaddress.ip_interface(address)  # fail early on a typo
    body = {"address": address, "status": "active",
            "assigned_object_type": "dcim.interface", "assigned_object_id": iface_id}
    existing = nb.one("ipam/ip-addresses/", address=address)
    if existing is None:
        return nb.post("ipam/ip-addresses/", body)
    return nb.patch(f"ipam/ip-addresses/{existing['id']}/", body)


def set_ips(nb, dev, iface_name, ip4, ip6):
    """Assign the addresses to the device's interface and make them primary."""
    if not ip4 and not ip6:
        return dev
    iface = ensure_interface(nb, dev["id"], iface_name)
    patch = {}
    if ip4:
        patch["primary_ip4"] = assign_ip(nb, iface["id"], ip4)["id"]
    if ip6:
        patch["primary_ip6"] = assign_ip(nb, iface["id"], ip6)["id"]
    return nb.patch(f"dcim/devices/{dev['id']}/", patch)


def device_refs(nb, a):
    """The device fields given by the common flags, objects ensured on the way."""
    body = {}
    if getattr(a, "site", None):
        body["site"] = ensure(nb, "site", a.site)["id"]
    if getattr(a, "role", None):
        body["role"] = ensure(nb, "role", a.role)["id"]
    if getattr(a, "platform", None):
        body["platform"] = ensure(nb, "platform", a.platform)["id"]
    if getattr(a, "tags", None) is not None:
        body["tags"] = tag_ids(nb, a.tags)
    if getattr(a, "status", None):
        body["status"] = a.status
    if getattr(a, "local_context", None) is not None:
        body["local_context_data"] = json.loads(a.local_context) if a.local_context else None
    return body


def cmd_ensure(nb, a):
    return ensure(nb, a.kind, a.name, a.slug)


def cmd_create_device(nb, a):
    if nb.one("dcim/devices/", name=a.name) is not None:
        raise NetBoxError(f"device {a.name!r} exists (use patch-device)")
    body = device_refs(nb, a)
    body.update(name=a.name, device_type=ensure_device_type(nb, a.device_type)["id"])
    body.setdefault("status", "active")
    dev = nb.post("dcim/devices/", body)
    return set_ips(nb, dev, a.interface, a.ip4, a.ip6)


def cmd_bulk_devices(nb, a):
    site = ensure(nb, "site", a.site)["id"]
    role = ensure(nb, "role", a.role)["id"]
    dtype = ensure_device_type(nb, a.device_type)["id"]
    common = {"site": site, "role": role, "device_type": dtype, "status": a.status}
    if a.platform:
        common["platform"] = ensure(nb, "platform", a.platform)["id"]
    if a.tags:
        common["tags"] = tag_ids(nb, a.tags)
    if a.local_context:
        common["local_context_data"] = json.loads(a.local_context)
    width = len(str(a.count))
    names = [f"{a.prefix}{i:0{width}d}" for i in range(1, a.count + 1)]

    def bulk(method, path, items, make):
        """One bulk request per chunk, a.parallel of them at a time; the
        answers in the order of ITEMS."""
        with ThreadPoolExecutor(max_workers=a.parallel) as pool:
            parts = pool.map(lambda c: method(path, [make(x) for x in c]), chunks(items, a.chunk))
            return [obj for part in parts for obj in part]

    devices = bulk(nb.post, "dcim/devices/", names, lambda n: dict(common, name=n))
    if a.ip4_from:
        first = ipaddress.IPv4Address(a.ip4_from)
        ifaces = bulk(nb.post, "dcim/interfaces/", devices,
                      lambda d: {"device": d["id"], "name": a.interface, "type": "virtual"})
        ips = bulk(nb.post, "ipam/ip-addresses/", list(enumerate(ifaces)),
                   lambda x: {"address": f"{first + x[0]}/32", "status": "active",
                              "assigned_object_type": "dcim.interface", "assigned_object_id": x[1]["id"]})
        pairs = [(f["device"]["id"], ip["id"]) for f, ip in zip(ifaces, ips)]
        devices = bulk(nb.patch, "dcim/devices/", pairs, lambda x: {"id": x[0], "primary_ip4": x[1]})
    return {"created": len(devices), "first": names[0], "last": names[-1]}


def chunks(xs, n):
    return [xs[i:i + n] for i in range(0, len(xs), n)]


def cmd_patch_device(nb, a):
    dev = find_device(nb, a.name)
    body = device_refs(nb, a)
    if a.json:
        body.update(json.loads(a.json))
    if a.new_name:
        body["name"] = a.new_name
    if body:
        dev = nb.patch(f"dcim/devices/{dev['id']}/", body)
    return set_ips(nb, dev, a.interface, a.ip4, a.ip6)


def device_ip_ids(nb, device_id):
    return [ip["id"] for ip in nb.all("ipam/ip-addresses/", device_id=device_id)]


def cmd_delete_device(nb, a):
    dev = find_device(nb, a.name)
    ips = device_ip_ids(nb, dev["id"])
    nb.delete(f"dcim/devices/{dev['id']}/")
    delete_ips(nb, ips)
    return {"deleted": a.name, "id": dev["id"], "ip_addresses": len(ips)}


def delete_ips(nb, ids):
    """Deletes those of the IP addresses that are left: deleting a device
    deletes its interfaces, and with them the addresses assigned to them."""
    for chunk in chunks(ids, 100):
        left = [ip["id"] for ip in nb.all("ipam/ip-addresses/", brief=1, id=chunk)]
        if left:
            nb.delete("ipam/ip-addresses/", [{"id": i} for i in left])


def cmd_delete_devices(nb, a):
    devs = [d for d in nb.all("dcim/devices/", name__isw=a.prefix, brief=1)
            if d["name"].startswith(a.prefix)]
    ips = []
    # A hundred devices per query keeps the URL short.
    for chunk in chunks(devs, 100):
        ips += [ip["id"] for ip in nb.all("ipam/ip-addresses/", brief=1,
                                          device_id=[d["id"] for d in chunk])]
    for chunk in chunks(devs, a.chunk):
        nb.delete("dcim/devices/", [{"id": d["id"]} for d in chunk])
    delete_ips(nb, ips)
    return {"deleted": len(devs), "ip_addresses": len(ips)}


def cmd_config_context(nb, a):
    body = {"name": a.name, "weight": a.weight, "data": json.loads(a.data), "is_active": True}
    if a.sites is not None:
        body["sites"] = [ensure(nb, "site", s)["id"] for s in split(a.sites)]
    if a.roles is not None:
        body["roles"] = [ensure(nb, "role", r)["id"] for r in split(a.roles)]
    if a.platforms is not None:
        body["platforms"] = [ensure(nb, "platform", p)["id"] for p in split(a.platforms)]
    if a.tags is not None:
        body["tags"] = [ensure(nb, "tag", t)["slug"] for t in split(a.tags)]
    existing = nb.one("extras/config-contexts/", name=a.name)
    if existing is None:
        return nb.post("extras/config-contexts/", body)
    return nb.patch(f"extras/config-contexts/{existing['id']}/", body)


def cmd_get(nb, a):
    if a.all:
        path, _, query = a.path.partition("?")
        return nb.all(path, **dict(urllib.parse.parse_qsl(query)))
    return nb.request("GET", a.path)


def cmd_raw(nb, a):
    return nb.request(a.method.upper(), a.path, json.loads(a.body) if a.body else None)


def device_flags(p, create=False):
    p.add_argument("--site", required=create)
    p.add_argument("--role", required=create)
    p.add_argument("--platform")
    p.add_argument("--tags", help="comma-separated tag slugs (created if missing)")
    p.add_argument("--status", default="active" if create else None)
    p.add_argument("--local-context", help="JSON for local_context_data ('' clears it)")
    p.add_argument("--ip4", help="e.g. 127.0.0.11/32: assigned to --interface, made primary_ip4")
    p.add_argument("--ip6", help="e.g. ::1/128: assigned to --interface, made primary_ip6")
    p.add_argument("--interface", default="lo0")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("NETBOX_URL"))
    ap.add_argument("--token", default=os.environ.get("NETBOX_TOKEN_V1") or os.environ.get("NETBOX_TOKEN_V2"))
    ap.add_argument("--compact", action="store_true", help="one-line JSON")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("ensure")
    p.add_argument("kind", choices=sorted(KINDS))
    p.add_argument("name")
    p.add_argument("--slug")
    p.set_defaults(fn=cmd_ensure)

    p = sub.add_parser("create-device")
    p.add_argument("--name", required=True)
    p.add_argument("--device-type", default="lab-box")
    device_flags(p, create=True)
    p.set_defaults(fn=cmd_create_device)

    p = sub.add_parser("bulk-devices")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--role", required=True)
    p.add_argument("--platform")
    p.add_argument("--tags")
    p.add_argument("--status", default="active")
    p.add_argument("--local-context")
    p.add_argument("--device-type", default="lab-box")
    p.add_argument("--ip4-from", help="first address: device i gets ip4-from + i - 1, /32, as primary_ip4")
    p.add_argument("--interface", default="lo0")
    p.add_argument("--chunk", type=int, default=100, help="objects per bulk request")
    p.add_argument("--parallel", type=int, default=4, help="bulk requests in flight at once")
    p.set_defaults(fn=cmd_bulk_devices)

    p = sub.add_parser("patch-device")
    p.add_argument("name")
    p.add_argument("--new-name")
    p.add_argument("--json", help="raw JSON fields to PATCH")
    device_flags(p)
    p.set_defaults(fn=cmd_patch_device)

    p = sub.add_parser("delete-device")
    p.add_argument("name")
    p.set_defaults(fn=cmd_delete_device)

    p = sub.add_parser("delete-devices")
    p.add_argument("--prefix", required=True)
    p.add_argument("--chunk", type=int, default=250)
    p.set_defaults(fn=cmd_delete_devices)

    p = sub.add_parser("config-context")
    p.add_argument("--name", required=True)
    p.add_argument("--data", required=True, help='JSON, e.g. {"reachd": {"ssh": {"port": 2222}}}')
    p.add_argument("--sites")
    p.add_argument("--roles")
    p.add_argument("--platforms")
    p.add_argument("--tags")
    p.add_argument("--weight", type=int, default=1000)
    p.set_defaults(fn=cmd_config_context)

    p = sub.add_parser("get")
    p.add_argument("path", help="e.g. dcim/devices/?site=fra1")
    p.add_argument("--all", action="store_true")
    p.set_defaults(fn=cmd_get)

    p = sub.add_parser("raw")
    p.add_argument("method")
    p.add_argument("path")
    p.add_argument("body", nargs="?")
    p.set_defaults(fn=cmd_raw)

    a = ap.parse_args(argv)
    if not a.url or not a.token:
        ap.error("--url and --token (or NETBOX_URL and NETBOX_TOKEN_V1/V2) are needed")
    nb = NetBox(a.url, a.token)
    try:
        out = a.fn(nb, a)
    except NetBoxError as e:
        print(f"nb.py: {e}", file=sys.stderr)
        return 1
    except (ValueError, json.JSONDecodeError) as e:
        print(f"nb.py: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=None if a.compact else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
