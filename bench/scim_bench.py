#!/usr/bin/env python3
"""The client half of Roster's benchmark (bench/run.sh drives it). Standard library only.

  scim_bench.py seed    --base URL --token T --count N --out IDS     create N users over SCIM
  scim_bench.py members --base URL --token T --ids IDS --out JSON    member add/remove cost
  scim_bench.py report  --dir DIR --out JSON                         summary table, PASS/FAIL

Everything goes through Roster's public SCIM API (POST /Users, POST /Groups, PATCH /Groups),
never its database. Only loopback URLs are accepted. Every loop is bounded in count and in
time: a request waits at most REQUEST_TIMEOUT seconds, a whole step at most --deadline.
"""

import argparse
import http.client
import json
import math
import os
import statistics
import sys
import threading
import time
import urllib.parse

REQUEST_TIMEOUT = 60.0

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Scim:
    """One keep-alive HTTP/1.1 connection to a connector's SCIM base URL."""

    def __init__(self, base, token):
        url = urllib.parse.urlsplit(base)
        if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing a non-loopback URL: {base}")
        self.host, self.port = url.hostname, url.port or 80
        self.prefix = url.path.rstrip("/")
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
            "Accept": "application/scim+json",
        }
        self.conn = None

    def request(self, method, path, body=None):
        """(status, headers, body bytes); one reconnect if the server closed the connection."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
            try:
                self.conn.request(method, self.prefix + path, body=data, headers=self.headers)
                resp = self.conn.getresponse()
                return resp.status, resp, resp.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def create(self, endpoint, body):
        """POST a resource; returns its id (from Location, else the body)."""
        status, resp, raw = self.request("POST", endpoint, body)
        if status != 201:
            raise RuntimeError(f"POST {endpoint}: {status} {raw[:300]!r}")
        location = resp.getheader("Location") or ""
        rid = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
        return rid or json.loads(raw)["id"]


def user_body(user_name, i):
    return {
        "schemas": [CORE_USER],
        "userName": user_name,
        "externalId": f"ext-{user_name}",
        "active": True,
        "displayName": f"Seed User {i}",
        "name": {"givenName": "Seed", "familyName": f"User{i}"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
    }


def create_users(base, token, names, concurrency, deadline):
    """Creates the users named `names` with `concurrency` connections; returns their ids in
    order. Each worker takes the next index until none is left or the deadline passes."""
    ids = [None] * len(names)
    lock = threading.Lock()
    state = {"next": 0, "error": None}
    stop_at = time.monotonic() + deadline

    def worker():
        scim = Scim(base, token)
        while True:
            with lock:
                i = state["next"]
                if i >= len(names) or state["error"] is not None:
                    return
                state["next"] = i + 1
            if time.monotonic() > stop_at:
                with lock:
                    state["error"] = state["error"] or f"deadline of {deadline}s passed at user {i}"
                return
            try:
                ids[i] = scim.create("/Users", user_body(names[i], i))
            except Exception as e:  # noqa: BLE001 - reported once, stops every worker
                with lock:
                    state["error"] = state["error"] or f"user {names[i]}: {e}"
                return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline + REQUEST_TIMEOUT)
    if state["error"] is not None:
        raise SystemExit(f"seeding failed: {state['error']}")
    if any(i is None for i in ids):
        raise SystemExit("seeding failed: some users were not created")
    return ids


def cmd_seed(args):
    names = [f"{args.prefix}{i}@example.com" for i in range(args.count)]
    start = time.monotonic()
    ids = create_users(args.base, args.token, names, args.concurrency, args.deadline)
    seconds = time.monotonic() - start
    with open(args.out, "w") as f:
        f.write("\n".join(ids) + "\n")
    result = {"users": len(ids), "seconds": round(seconds, 2), "rate": round(len(ids) / seconds, 1)}
    print("JSON " + json.dumps(result))


def percentile(samples, p):
    """Nearest-rank percentile of a list of numbers."""
    s = sorted(samples)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def patch_members(scim, group_id, op, member_ids):
    """One PATCH adding or removing `member_ids`, in Entra ID's shape (RFC 7644 §3.5.2.1 add;
    Entra's remove with a value list). Returns the latency in milliseconds."""
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": op, "path": "members", "value": [{"value": m} for m in member_ids]}],
    }
    start = time.perf_counter()
    status, _, raw = scim.request("PATCH", f"/Groups/{group_id}", body)
    ms = (time.perf_counter() - start) * 1000
    if status not in (200, 204):
        raise SystemExit(f"PATCH {op} members: {status} {raw[:300]!r}")
    return ms


def summary(samples):
    return {
        "n": len(samples),
        "median_ms": round(statistics.median(samples), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
    }


def cmd_members(args):
    with open(args.ids) as f:
        seeded = [line.strip() for line in f if line.strip()]
    if len(seeded) < args.large:
        raise SystemExit(f"{args.ids} holds {len(seeded)} ids, fewer than --large {args.large}")
    stop_at = time.monotonic() + args.deadline
    scim = Scim(args.base, args.token)

    # The members that come and go: users of their own, in neither group beforehand.
    toggled = create_users(
        args.base, args.token, [f"toggle{i}@example.com" for i in range(args.delta)], 4, 120
    )

    # The two groups, built up through PATCH in batches (as an IdP's first cycle does).
    groups = {}
    build = {}
    for size in (args.small, args.large):
        gid = scim.create("/Groups", {"schemas": [CORE_GROUP], "displayName": f"bench-{size}"})
        start = time.monotonic()
        for at in range(0, size, args.batch):
            if time.monotonic() > stop_at:
                raise SystemExit(f"deadline of {args.deadline}s passed while building bench-{size}")
            patch_members(scim, gid, "add", seeded[at : min(at + args.batch, size)])
        build[str(size)] = {
            "members": size,
            "batch": args.batch,
            "seconds": round(time.monotonic() - start, 2),
        }
        groups[size] = gid

    # Sanity check: an added member shows the group in its `groups`.
    patch_members(scim, groups[args.large], "add", toggled)
    status, _, raw = scim.request("GET", f"/Users/{toggled[0]}?attributes=groups")
    shown = {g.get("value") for g in json.loads(raw).get("groups", [])} if status == 200 else set()
    if groups[args.large] not in shown:
        raise SystemExit(f"member check failed: {status} {raw[:300]!r}")
    patch_members(scim, groups[args.large], "remove", toggled)

    # Interleaved, so that load from elsewhere on the machine hits both sizes alike.
    lat = {size: {"add": [], "remove": []} for size in (args.small, args.large)}
    for rep in range(args.warmup + args.reps):
        if time.monotonic() > stop_at:
            raise SystemExit(f"deadline of {args.deadline}s passed at repetition {rep}")
        for size in (args.small, args.large):
            add = patch_members(scim, groups[size], "add", toggled)
            remove = patch_members(scim, groups[size], "remove", toggled)
            if rep >= args.warmup:
                lat[size]["add"].append(add)
                lat[size]["remove"].append(remove)

    result = {
        "sizes": [args.small, args.large],
        "delta": args.delta,
        "reps": args.reps,
        "warmup": args.warmup,
        "build": build,
    }
    for size in (args.small, args.large):
        result[str(size)] = {op: summary(lat[size][op]) for op in ("add", "remove")}
    for op in ("add", "remove"):
        small, large = result[str(args.small)][op], result[str(args.large)][op]
        result[f"{op}_ratio_median"] = round(large["median_ms"] / small["median_ms"], 3)
        result[f"{op}_ratio_p99"] = round(large["p99_ms"] / small["p99_ms"], 3)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print("JSON " + json.dumps(result))


def load(path):
    with open(path) as f:
        return json.load(f)


def cmd_report(args):
    d = args.dir
    meta = load(os.path.join(d, "meta.json"))
    rounds = meta.get("rounds", 1)
    runs = {
        (server, test): [
            load(os.path.join(d, f"wrk_{test}_{server}_{r}.json")) for r in range(1, rounds + 1)
        ]
        for server in ("limit", "roster")
        for test in ("lookup", "create")
    }

    def ratios(test):
        return [
            round(ros["rps"] / lim["rps"], 3) if lim["rps"] else 0.0
            for lim, ros in zip(runs[("limit", test)], runs[("roster", test)])
        ]

    def median_round(test):
        """The round whose ratio is the median (the lower one of an even count)."""
        rs = ratios(test)
        return sorted(range(len(rs)), key=lambda i: rs[i])[(len(rs) - 1) // 2]

    # Each test's figures are those of its median round.
    wrk = {
        (server, test): runs[(server, test)][median_round(test)]
        for server in ("limit", "roster")
        for test in ("lookup", "create")
    }
    members = load(os.path.join(d, "members.json"))
    memory = load(os.path.join(d, "memory.json"))
    seeding = load(os.path.join(d, "seeding.json"))

    def ratio(test):
        return ratios(test)[median_round(test)]

    mb = 1_000_000
    users, delta = meta["users"], members["delta"]
    small, large = members["sizes"]
    peak_kb = max(v["VmHWM_kB"] for v in memory["roster"].values())
    targets = [
        {
            "target": f"userName eq lookups, {users:,} users: roster >= 0.7x limit-server req/s",
            "value": ratio("lookup"),
            "limit": 0.7,
            "pass": ratio("lookup") >= 0.7
            and all(r["non200"] == 0 for r in runs[("roster", "lookup")]),
        },
        {
            "target": "creates, 16 clients: roster >= 1.0x limit-server req/s",
            "value": ratio("create"),
            "limit": 1.0,
            "pass": ratio("create") >= 1.0
            and all(r["non2xx"] == 0 for r in runs[("roster", "create")]),
        },
        {
            "target": f"add {delta} members: {large:,}-member group median <= 1.5x {small:,}-member group",
            "value": members["add_ratio_median"],
            "limit": 1.5,
            "pass": members["add_ratio_median"] <= 1.5,
        },
        {
            "target": f"remove {delta} members: {large:,}-member group median <= 1.5x {small:,}-member group",
            "value": members["remove_ratio_median"],
            "limit": 1.5,
            "pass": members["remove_ratio_median"] <= 1.5,
        },
        {
            "target": f"roster peak resident memory (VmHWM) with {users:,} users < 100 MB",
            "value": round(peak_kb * 1024 / mb, 1),
            "limit": 100,
            "pass": peak_kb * 1024 < 100 * mb,
        },
    ]
    out = {
        **meta,
        "lookup": {
            "limit": wrk[("limit", "lookup")],
            "roster": wrk[("roster", "lookup")],
            "ratio": ratio("lookup"),
            "rounds": {"limit": runs[("limit", "lookup")], "roster": runs[("roster", "lookup")],
                       "ratios": ratios("lookup")},
        },
        "create": {
            "limit": wrk[("limit", "create")],
            "roster": wrk[("roster", "create")],
            "ratio": ratio("create"),
            "rounds": {"limit": runs[("limit", "create")], "roster": runs[("roster", "create")],
                       "ratios": ratios("create")},
        },
        "members": members,
        "memory": memory,
        "seeding": seeding,
        "targets": targets,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)

    def row(*cells):
        print("  " + "".join(str(c).ljust(w) for c, w in zip(cells, (34, 16, 16, 10))))

    print()
    print(f"Roster benchmark, {meta['date']}, commit {meta['commit']}, {meta['cores']} cores"
          f" ({meta['cpu']}), load {meta['loadavg_start']} -> {meta['loadavg_end']},"
          f" wrk {meta['wrk']}, {meta['duration']} per run, {rounds} round(s)"
          " (the median round shown)")
    print()
    row("", "limit-server", "roster", "ratio", "")
    for test, label in (("lookup", "userName eq lookups"), ("create", "creates (POST /Users)")):
        lim, ros = wrk[("limit", test)], wrk[("roster", test)]
        row(f"{label}  req/s", lim["rps"], ros["rps"], ratio(test))
        row("  p50 ms", lim["p50_ms"], ros["p50_ms"])
        row("  p99 ms", lim["p99_ms"], ros["p99_ms"])
        row("  ratio of each round", "", "", " ".join(str(r) for r in ratios(test)))
        cpu = [
            [r.get("cpu_us_per_request") for r in runs[(server, test)]] for server in ("limit", "roster")
        ]
        row("  server CPU us/request", *("/".join(f"{c:.0f}" if c else "-" for c in cs) for cs in cpu))
    print()
    small, large = (str(n) for n in members["sizes"])
    row(f"PATCH +/-{members['delta']} members", f"{small} members", f"{large} members", "ratio")
    for op in ("add", "remove"):
        s, l = members[small][op], members[large][op]
        row(f"{op}  median ms", s["median_ms"], l["median_ms"], members[f"{op}_ratio_median"])
        row(f"{op}  p99 ms", s["p99_ms"], l["p99_ms"], members[f"{op}_ratio_p99"])
    print()
    row("resident memory (MB)", "VmRSS", "VmHWM")
    for when, v in memory["roster"].items():
        row(f"roster {when}", round(v["VmRSS_kB"] * 1024 / mb, 1), round(v["VmHWM_kB"] * 1024 / mb, 1))
    for when, v in memory.get("limit", {}).items():
        row(f"limit-server {when}", round(v["VmRSS_kB"] * 1024 / mb, 1),
            round(v["VmHWM_kB"] * 1024 / mb, 1))
    print()
    row(f"seeding {users:,} users", "seconds", "users/s")
    for server, v in seeding.items():
        row(f"  {server}", v["seconds"], v.get("rate", "-"))
    print()
    for t in targets:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['value']} (limit {t['limit']})")
    print(f"\nsummary: {args.out}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("seed", help="create users through POST /Users")
    s.add_argument("--base", required=True, help="the connector's SCIM base URL (loopback)")
    s.add_argument("--token", required=True)
    s.add_argument("--count", type=int, default=100_000)
    s.add_argument("--prefix", default="seed", help="userNames are PREFIX{i}@example.com")
    s.add_argument("--concurrency", type=int, default=16)
    s.add_argument("--deadline", type=float, default=600, help="seconds for the whole step")
    s.add_argument("--out", required=True, help="file for the new ids, one a line, in order")
    s.set_defaults(run=cmd_seed)

    m = sub.add_parser("members", help="time PATCHes adding and removing group members")
    m.add_argument("--base", required=True)
    m.add_argument("--token", required=True)
    m.add_argument("--ids", required=True, help="ids of existing users (from `seed`)")
    m.add_argument("--small", type=int, default=1_000)
    m.add_argument("--large", type=int, default=100_000)
    m.add_argument("--delta", type=int, default=100, help="members added / removed per PATCH")
    m.add_argument("--batch", type=int, default=1_000, help="members per PATCH when building")
    m.add_argument("--reps", type=int, default=200)
    m.add_argument("--warmup", type=int, default=10)
    m.add_argument("--deadline", type=float, default=300)
    m.add_argument("--out", required=True)
    m.set_defaults(run=cmd_members)

    r = sub.add_parser("report", help="summary table and JSON from a run's files")
    r.add_argument("--dir", required=True)
    r.add_argument("--out", required=True)
    r.set_defaults(run=cmd_report)

    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
