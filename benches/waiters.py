#!/usr/bin/env python3
"""Waiting receivers (issue item 4): many long polls `GET /depot/messages?wait=N` on one depot.

Run by benches/waiters.sh (which starts the depot); asyncio + aiohttp (`pip install aiohttp`).

  setup  --base URL --work DIR --ids R
         With the bootstrapped admin (WORK/bench-admin.pem, as benches/depot.sh): the sender
         organization + system client bench-sender (depot:send), and R recipient identities
         wait-rcpt-0 … wait-rcpt-(R-1): each its own organization (CBE), a system client
         (depot:read, private_key_jwt P-256) and an EC P-256 `enc` key through POST /admin/keys.
         Reuses benches/depot_driver.py (cbe, token checks, sealing) and bench_client.py (keys).
         Writes WORK/waiters-setup.json.
  run    --base URL --work DIR --waiters N --backend B --watch-pid PID [--db-name DB] …
         1. tokens for the sender and every identity; M sealed bodies, message k to identity
            k mod R (JWE for that identity's enc key, ~SMALL bytes of plaintext).
         2. baseline (--baseline, default on): IDLE s with no waiter at all: what the depot
            does on its own (background tasks).
         3. N waiters, waiter j as identity j mod R, each looping on
            GET /depot/messages?wait=WAIT[&cursor=…] (one keep-alive connection each; the next
            poll is sent as soon as an answer is read, with its nextCursor).
            Once every waiter has sent its first poll and the depot's CPU is quiet:
         4. idle phase: IDLE s without messages. Measured over exactly that window:
              - PostgreSQL: the depot's database traffic, from `ss -tin` on its sockets to the
                server port (data_segs_out, bytes_sent summed over those sockets: a query is at least
                one segment out, so 0 segments = 0 queries), and pg_stat_database of the bench
                database (xact_commit + xact_rollback, tup_returned + tup_fetched). Caveat: PG 15
                backends flush their counters when a transaction ends but an idle backend may hold
                them up to 10 s, so those deltas can include the last activity before the window;
                pg_stat_statements is not used (it needs shared_preload_libraries, a restart).
              - both backends: the depot's CPU time (utime+stime), read/write syscalls and
                context switches (/proc/PID/io, /proc/PID/task/*/status), VmRSS; HTTP answers
                the waiters got (none expected while WAIT > the phase).
            queries/s per idle waiter = (segments out during the phase − baseline's) / IDLE / N.
         5. latency phase: the sender posts M messages one at a time (waits for the delivery or
            --deliver-timeout, then GAP ms); each to an identity that has waiters. Per
            delivery (message id seen in a waiter's answer): latency after 201 = the waiter's
            answer read − the sender's 201 read; latency after send = − the POST sent. One
            event loop holds both, so both times are taken by the same clock; a delivery can be
            read before the 201 (negative "after 201"): kept as is.
         Writes one JSON object (--json) and prints the figures.
  summary --jsonl FILE [--note …]
         Goal lines over the run records: zero queries per second per idle waiter; p50 delivery
         within 10 ms of the commit (201); 1,000 concurrent waiters on one instance.
"""
import argparse
import asyncio
import glob
import json
import os
import re
import statistics as st
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_client import assertion, b64, keygen, proc_cpu_s, proc_status_kb  # noqa: E402
from depot_driver import ADMIN, b64json, cbe, seal_text  # noqa: E402

SENDER = "bench-sender"
APPLICATION = "bench-wait"
now = time.perf_counter


def rid(i):
    return f"wait-rcpt-{i}"


# ---------------------------------------------------------------- HTTP helpers (aiohttp)


class Unexpected(SystemExit):
    pass


async def call(session, method, url, what, statuses, body=None, token=None, form=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, data=form, headers=headers) as resp:
        raw = await resp.read()
        if resp.status not in statuses:
            shown = "" if body is None else "\n  request body: " + json.dumps(body)[:1500]
            raise Unexpected(f"{what}: unexpected answer\n  {method} {url}{shown}\n  -> HTTP {resp.status}: "
                             f"{raw[:2000].decode('utf-8', 'replace')}")
        return resp.status, raw


async def get_token(session, base, work, client_id, scope):
    form = {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(f"{work}/{client_id}.pem", client_id, client_id, f"{base}/oauth2/token"),
            "scope": scope}
    _, raw = await call(session, "POST", f"{base}/oauth2/token", f"token for {client_id}", (200,), form=form)
    tok = json.loads(raw)["access_token"]
    return tok, b64json(tok.split(".")[1])


async def gather_limited(n, coros):
    sem = asyncio.Semaphore(n)

    async def one(c):
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))


# ---------------------------------------------------------------- setup


async def setup(a):
    import aiohttp
    from cryptography.hazmat.primitives.asymmetric import ec

    base, work = a.base, a.work
    async with aiohttp.ClientSession() as s:
        admin, _ = await get_token(s, base, work, ADMIN, "admin")
        orgs = {SENDER: cbe("08870001"), **{rid(i): cbe(f"0889{i:04d}") for i in range(a.ids)}}

        async def identity(client_id, scopes, enc):
            await call(s, "POST", f"{base}/admin/organizations", f"organization of {client_id}", (201,),
                       {"cbe": orgs[client_id], "name": f"Waiters benchmark {client_id}"}, admin)
            keygen(work, client_id)
            with open(f"{work}/{client_id}.jwks.json") as f:
                jwks = json.load(f)
            await call(s, "POST", f"{base}/admin/clients", f"registering {client_id}", (201,),
                       {"client_id": client_id, "type": "system", "name": f"waiters benchmark {client_id}",
                        "organization": orgs[client_id], "redirect_uris": [], "scopes": scopes, "jwks": jwks}, admin)
            if not enc:
                return None
            n = ec.generate_private_key(ec.SECP256R1()).private_numbers()
            public = {"kty": "EC", "crv": "P-256",
                      "x": b64(n.public_numbers.x.to_bytes(32, "big")), "y": b64(n.public_numbers.y.to_bytes(32, "big"))}
            _, raw = await call(s, "POST", f"{base}/admin/keys", f"enc key of {client_id}", (201,),
                                {"client_id": client_id, "use": "enc", "name": "waiters enc key", "jwk": public}, admin)
            kid = json.loads(raw).get("kid")
            if not kid:
                raise Unexpected(f"POST /admin/keys answered no kid: {raw[:500].decode()}")
            return {"client_id": client_id, "cbe": orgs[client_id], "kid": kid, "public": {**public, "kid": kid}}

        t0 = now()
        await identity(SENDER, ["depot:send", "depot:read"], False)
        rcpts = await gather_limited(8, [identity(rid(i), ["depot:read"], True) for i in range(a.ids)])
        _, claims = await get_token(s, base, work, rid(0), "depot:read")
        if claims.get("identity") != {"profile": "system", "cbe": orgs[rid(0)]}:
            raise Unexpected(f"the token of {rid(0)} has identity {claims.get('identity')!r}")
    with open(f"{work}/waiters-setup.json", "w") as f:
        json.dump({"base": base, "sender": SENDER, "recipients": rcpts}, f)
    print(f"setup: {SENDER} + {a.ids} recipient identities (organization, system client, enc key each) "
          f"in {now() - t0:.1f} s")


# ---------------------------------------------------------------- measurements


def ss_db_sockets(pid, port):
    """{socket key: (data_segs_out, bytes_sent)} of the process's established TCP sockets to PORT."""
    out = subprocess.run(["ss", "-tnpiH", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True).stdout
    socks, cur = {}, None
    for line in out.splitlines():
        if f"pid={pid}," in line:
            f = line.split()
            cur = (f[2], f[3])  # local, peer
        elif cur and line.startswith(("\t", " ")):
            so = re.search(r"\bdata_segs_out:(\d+)", line)
            bs = re.search(r"\bbytes_sent:(\d+)", line)
            socks[cur] = (int(so.group(1)) if so else 0, int(bs.group(1)) if bs else 0)
            cur = None
        else:
            cur = None
    return socks


def ss_delta(before, after):
    segs = byts = 0
    for k, (so, bs) in after.items():
        so0, bs0 = before.get(k, (0, 0))
        segs += so - so0
        byts += bs - bs0
    return segs, byts, len(after)


def pg_db_stats(db_url, db_name):
    if not db_url:
        return None
    q = (f"select xact_commit + xact_rollback, tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted "
         f"from pg_stat_database where datname = '{db_name}'")
    r = subprocess.run(["psql", db_url, "-Atc", q], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        return None
    x, t, w = (int(v) for v in r.stdout.strip().split("|"))
    return {"xacts": x, "tuples_read": t, "tuples_written": w}


def proc_counters(pid):
    io = {}
    try:
        for line in open(f"/proc/{pid}/io"):
            k, v = line.split(":")
            io[k] = int(v)
    except OSError:
        pass
    cs = 0
    for path in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            for line in open(path):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    cs += int(line.split()[1])
        except OSError:
            pass
    return {"cpu_s": proc_cpu_s(pid), "syscr": io.get("syscr"), "syscw": io.get("syscw"), "ctxt_switches": cs}


class Window:
    """Counters of the depot (and its database) over one window."""

    def __init__(self, a):
        self.a = a

    def snap(self):
        a = self.a
        return {"t": now(), "proc": proc_counters(a.watch_pid),
                "ss": ss_db_sockets(a.watch_pid, a.db_port) if a.db_url else {},
                "pg": pg_db_stats(a.db_url, a.db_name)}

    def delta(self, s0, s1):
        dt = s1["t"] - s0["t"]
        p0, p1 = s0["proc"], s1["proc"]
        d = {"seconds": dt,
             "server_cpu_ms": (p1["cpu_s"] - p0["cpu_s"]) * 1000 if p1["cpu_s"] is not None else None,
             "server_syscalls_rw": (p1["syscr"] + p1["syscw"] - p0["syscr"] - p0["syscw"]) if p1["syscr"] is not None else None,
             "server_ctxt_switches": p1["ctxt_switches"] - p0["ctxt_switches"],
             "server_vm_rss_kb": proc_status_kb(self.a.watch_pid).get("VmRSS")}
        if self.a.db_url:
            segs, byts, n = ss_delta(s0["ss"], s1["ss"])
            d.update(db_segs_out=segs, db_bytes_sent=byts, db_sockets=n)
            if s0["pg"] and s1["pg"]:
                d.update({f"pg_{k}": s1["pg"][k] - s0["pg"][k] for k in s0["pg"]})
        return d


async def quiet(pid, max_s=30.0, window=0.5, pct=5.0):
    """Until the depot used < pct % of a core over `window` s (or max_s)."""
    t_end = now() + max_s
    while now() < t_end:
        c0 = proc_cpu_s(pid)
        await asyncio.sleep(window)
        if (proc_cpu_s(pid) - c0) / window * 100 < pct:
            return True
    return False


def pct(vals, q):
    if not vals:
        return None
    v = sorted(vals)
    return v[min(len(v) - 1, max(0, int(round(q * (len(v) - 1)))))]


# ---------------------------------------------------------------- run


async def run(a):
    import aiohttp

    base, work = a.base, a.work
    with open(f"{work}/waiters-setup.json") as f:
        setup_ = json.load(f)
    rcpts = setup_["recipients"]
    ids = len(rcpts)
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=a.wait + 30, sock_connect=30)
    session = aiohttp.ClientSession(connector=conn, timeout=timeout)
    result = {"label": a.label, "backend": a.backend, "waiters": a.waiters, "identities": ids, "wait_s": a.wait,
              "idle_s": a.idle, "messages": a.messages, "gap_ms": a.gap_ms, "unix_time": int(time.time()),
              "generator": "benches/waiters.py (asyncio + aiohttp, 1 thread)"}
    try:
        send_tok, _ = await get_token(session, base, work, SENDER, "depot:send")
        toks = await gather_limited(16, [get_token(session, base, work, r["client_id"], "depot:read") for r in rcpts])
        toks = [t for t, _ in toks]
        # Sealed bodies, message k to identity k mod ids (at most one JWE per identity, reused).
        plaintext = os.urandom(a.small)
        sealed = {}
        bodies = []
        for k in range(a.messages):
            r = rcpts[k % ids]
            if r["client_id"] not in sealed:
                sealed[r["client_id"]] = seal_text(plaintext, [r])
            bodies.append((k % ids, (json.dumps({"application": APPLICATION,
                                                 "recipients": [{"type": "cbe", "value": r["cbe"]}]},
                                                separators=(",", ":"))[:-1]
                                     + ',"sealed":' + sealed[r["client_id"]] + "}").encode()))
        result["sealed_bytes"] = len(next(iter(sealed.values()))) if sealed else None
        win = Window(a)

        # ---- baseline: no waiter
        if a.baseline:
            await quiet(a.watch_pid)
            s0 = win.snap()
            await asyncio.sleep(a.idle)
            result["baseline"] = win.delta(s0, win.snap())
            print(f"  baseline (no waiter, {a.idle:.0f} s): {fmt_window(result['baseline'])}", flush=True)

        # ---- waiters
        delivered = {}  # message id -> [(waiter, t)]
        state = {"polls": 0, "answers": 0, "empty": 0, "errors": 0, "first_error": None, "started": 0,
                 "in_flight": 0}
        stop = asyncio.Event()

        async def waiter(j):
            ident = j % ids
            headers = {"authorization": f"Bearer {toks[ident]}"}
            cursor = None
            first = True
            while not stop.is_set():
                params = {"wait": str(a.wait), "application": APPLICATION}
                if cursor:
                    params["cursor"] = cursor
                state["polls"] += 1
                if first:
                    state["started"] += 1
                    first = False
                state["in_flight"] += 1
                try:
                    async with session.get(f"{base}/depot/messages", params=params, headers=headers) as resp:
                        raw = await resp.read()
                        t = now()
                        status = resp.status
                except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                    state["in_flight"] -= 1
                    if stop.is_set():
                        return
                    state["errors"] += 1
                    state["first_error"] = state["first_error"] or f"{type(e).__name__}: {e}"
                    await asyncio.sleep(0.5)
                    continue
                state["in_flight"] -= 1
                if status != 200:
                    state["errors"] += 1
                    state["first_error"] = state["first_error"] or f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"
                    await asyncio.sleep(0.5)
                    continue
                state["answers"] += 1
                body = json.loads(raw)
                cursor = body.get("nextCursor") or cursor
                if not body["messages"]:
                    state["empty"] += 1
                for m in body["messages"]:
                    delivered.setdefault(m["id"], []).append((j, t))
                    ev = events.get(m["id"])
                    if ev:
                        ev.set()

        events = {}
        t_open = now()
        tasks = [asyncio.create_task(waiter(j)) for j in range(a.waiters)]
        while state["started"] < a.waiters:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        settled = await quiet(a.watch_pid)
        result["open_s"] = now() - t_open
        print(f"  {a.waiters} waiters ({ids} identities) polling after {result['open_s']:.1f} s "
              f"(depot quiet: {settled}); in flight {state['in_flight']}, errors {state['errors']}", flush=True)

        # ---- idle phase
        a0 = dict(state)
        s0 = win.snap()
        await asyncio.sleep(a.idle)
        idle = win.delta(s0, win.snap())
        idle.update(answers=state["answers"] - a0["answers"], errors=state["errors"] - a0["errors"],
                    in_flight_at_end=state["in_flight"])
        base_w = result.get("baseline")
        if a.db_url:
            extra = idle["db_segs_out"] - (base_w["db_segs_out"] * idle["seconds"] / base_w["seconds"] if base_w else 0)
            idle["db_segs_out_per_s_per_waiter"] = max(extra, 0) / idle["seconds"] / a.waiters
        cpu_extra = idle["server_cpu_ms"] - (base_w["server_cpu_ms"] * idle["seconds"] / base_w["seconds"] if base_w else 0)
        idle["server_cpu_ms_per_s_per_waiter"] = cpu_extra / idle["seconds"] / a.waiters
        result["idle"] = idle
        print(f"  idle ({a.waiters} waiters, {a.idle:.0f} s): {fmt_window(idle)}; HTTP answers {idle['answers']}, "
              f"errors {idle['errors']}, polls in flight at the end {idle['in_flight_at_end']}", flush=True)

        # ---- latency phase
        lat_201, lat_send, missing, post_errors = [], [], 0, 0
        per_msg = []
        first_post_error = None
        hdr = {"authorization": f"Bearer {send_tok}", "content-type": "application/json"}
        t_lat = now()
        for k, (ident, body) in enumerate(bodies):
            t_send = now()
            async with session.post(f"{base}/depot/messages", data=body, headers=hdr) as resp:
                raw = await resp.read()
                t_201 = now()
                status = resp.status
            if status != 201:
                post_errors += 1
                first_post_error = first_post_error or f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"
                continue
            mid = json.loads(raw)["id"]
            ev = events[mid] = asyncio.Event()
            if mid in delivered:
                ev.set()
            expect_n = len(range(ident, a.waiters, ids))
            try:
                await asyncio.wait_for(ev.wait(), a.deliver_timeout)
                # every waiter of the identity: give the others a moment
                t_end = now() + a.deliver_timeout
                while len(delivered.get(mid, ())) < expect_n and now() < t_end:
                    await asyncio.sleep(0.001)
            except asyncio.TimeoutError:
                pass
            got = delivered.get(mid, [])
            if not got:
                missing += 1
            for _, t in got:
                lat_201.append((t - t_201) * 1000)
                lat_send.append((t - t_send) * 1000)
            per_msg.append({"id": mid, "post_ms": (t_201 - t_send) * 1000, "deliveries": len(got),
                            "expected": expect_n,
                            "first_after_201_ms": (min(t for _, t in got) - t_201) * 1000 if got else None})
            events.pop(mid, None)
            if a.gap_ms:
                await asyncio.sleep(a.gap_ms / 1000)
        lat_s = now() - t_lat
        expected = sum(m["expected"] for m in per_msg)
        result["latency"] = {
            "posted": len(per_msg), "post_errors": post_errors, "first_post_error": first_post_error,
            "deliveries": len(lat_201), "expected_deliveries": expected, "messages_not_delivered": missing,
            "seconds": lat_s,
            **{f"after_201_{n}_ms": pct(lat_201, q) for n, q in (("p50", .5), ("p90", .9), ("p99", .99), ("max", 1))},
            "after_201_min_ms": min(lat_201) if lat_201 else None,
            **{f"after_send_{n}_ms": pct(lat_send, q) for n, q in (("p50", .5), ("p90", .9), ("p99", .99), ("max", 1))},
            "post_p50_ms": pct([m["post_ms"] for m in per_msg], .5),
            "post_p99_ms": pct([m["post_ms"] for m in per_msg], .99),
            "server_vm_rss_kb": proc_status_kb(a.watch_pid).get("VmRSS"),
        }
        L = result["latency"]
        print(f"  latency ({len(per_msg)} messages one at a time, {len(lat_201)}/{expected} deliveries): after 201 "
              f"p50 {fmtv(L['after_201_p50_ms'])} p90 {fmtv(L['after_201_p90_ms'])} p99 {fmtv(L['after_201_p99_ms'])} "
              f"max {fmtv(L['after_201_max_ms'])} ms; after send p50 {fmtv(L['after_send_p50_ms'])} "
              f"p99 {fmtv(L['after_send_p99_ms'])} ms; POST p50 {fmtv(L['post_p50_ms'])} ms; "
              f"not delivered {missing}, POST errors {post_errors}", flush=True)
        if first_post_error:
            print(f"  first POST error: {first_post_error}", file=sys.stderr)
        result["waiter_totals"] = {k: state[k] for k in ("polls", "answers", "empty", "errors", "first_error")}
        result["waiters_open_at_end"] = state["in_flight"]
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await session.close()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


def fmtv(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def fmt_window(d):
    parts = [f"depot CPU {fmtv(d['server_cpu_ms'], '.0f')} ms", f"r/w syscalls {d['server_syscalls_rw']}",
             f"ctx switches {d['server_ctxt_switches']}", f"RSS {fmtv((d['server_vm_rss_kb'] or 0) / 1024, '.1f')} MiB"]
    if "db_segs_out" in d:
        parts.append(f"to PostgreSQL {d['db_segs_out']} segments / {d['db_bytes_sent']} B on {d['db_sockets']} sockets")
    if "pg_xacts" in d:
        parts.append(f"pg_stat_database xacts {d['pg_xacts']}, tuples read {d['pg_tuples_read']}")
    return ", ".join(parts)


# ---------------------------------------------------------------- summary


def summary(a):
    recs = [json.loads(x) for x in open(a.jsonl) if x.strip()]
    print("# waiting receivers: N long polls GET /depot/messages?wait=W on one depot (DEPOT_WORKERS=1, CPU 0); "
          "generator benches/waiters.py (asyncio + aiohttp, 1 thread, one connection per waiter) on CPU 1")
    for n in a.note or []:
        print(f"# {n}")
    print()
    print(f"{'backend':<14} {'waiters':>7} {'ids':>5} {'idle s':>6} {'CPU ms/s':>8} {'DBsegs/s':>8} "
          f"{'q/s/waiter':>10} {'xacts/s':>8} {'RSS MiB':>7} | {'msgs':>4} {'deliv':>9} {'p50 ms':>7} {'p90 ms':>7} "
          f"{'p99 ms':>7} {'max ms':>7} {'send p50':>8} {'errors':>6}")
    for r in recs:
        i, L, b = r["idle"], r["latency"], r.get("baseline") or {}
        qps = i.get("db_segs_out_per_s_per_waiter")
        xps = i["pg_xacts"] / i["seconds"] if "pg_xacts" in i else None
        errs = i["errors"] + L["post_errors"] + r["waiter_totals"]["errors"]
        print(f"{r['label']:<14} {r['waiters']:>7} {r['identities']:>5} {i['seconds']:>6.1f} "
              f"{i['server_cpu_ms'] / i['seconds']:>8.1f} {fmtv(i['db_segs_out'] / i['seconds'] if 'db_segs_out' in i else None, '.1f'):>8} "
              f"{fmtv(qps, '.5f'):>10} {fmtv(xps, '.1f'):>8} {fmtv((i['server_vm_rss_kb'] or 0) / 1024, '.1f'):>7} | "
              f"{L['posted']:>4} {str(L['deliveries']) + '/' + str(L['expected_deliveries']):>9} "
              f"{fmtv(L['after_201_p50_ms']):>7} {fmtv(L['after_201_p90_ms']):>7} {fmtv(L['after_201_p99_ms']):>7} "
              f"{fmtv(L['after_201_max_ms']):>7} {fmtv(L['after_send_p50_ms']):>8} {errs:>6}")
        if b:
            print(f"{'':<14} baseline without waiters: CPU {b['server_cpu_ms'] / b['seconds']:.1f} ms/s"
                  + (f", {b['db_segs_out'] / b['seconds']:.1f} DB segments/s" if "db_segs_out" in b else "")
                  + (f", {b['pg_xacts'] / b['seconds']:.1f} xacts/s" if "pg_xacts" in b else ""))
    print("# CPU ms/s = the depot's CPU during the idle phase; DBsegs/s = TCP segments the depot sent to PostgreSQL "
          "(ss -tin on its sockets; a query is ≥ 1 segment);")
    print("# q/s/waiter = (those segments − the baseline's without any waiter) / s / waiters; xacts/s = "
          "pg_stat_database xact_commit+xact_rollback of the bench database (PG 15 may flush an idle backend's counts")
    print("# up to 10 s late); latency = the waiter's answer read − the sender's 201 read (send p50: − the POST sent); "
          "SQLite has no query counter: CPU, syscalls and context switches stand for it.")
    print()
    for r in recs:
        i, L = r["idle"], r["latency"]
        print(f"goals ({r['label']}, {r['waiters']} waiters):")
        if "db_segs_out" in i:
            q = i["db_segs_out_per_s_per_waiter"]
            extra = q * i["seconds"] * r["waiters"]
            # Tolerance: the baseline's noise, not the waiters: fewer extra segments over the whole phase than
            # 1 per 100 waiters (one query per waiter in the phase would be ≥ N segments).
            print(f"  zero queries per second per idle waiter: {i['db_segs_out']} data segments to PostgreSQL in "
                  f"{i['seconds']:.1f} s, {extra:.1f} over the baseline = {q:.5f}/s/waiter"
                  + (f"; pg_stat_database {i['pg_xacts']} xacts, {i['pg_tuples_read']} tuples read" if "pg_xacts" in i else "")
                  + f" -> {'MET' if extra < max(1, r['waiters'] / 100) else 'NOT MET'} (tolerance: < 1 segment per 100 "
                  f"waiters over the phase, the depot's own background work being in the baseline)")
            if i.get("pg_xacts") and not i["db_segs_out"]:
                print("    (pg_stat_database moved although the depot sent PostgreSQL no data at all during the phase: "
                      "those are counts flushed late by backends that were busy before it — setup, the first polls)")
        else:
            print(f"  zero queries per second per idle waiter (SQLite: no query counter): depot CPU "
                  f"{i['server_cpu_ms']:.0f} ms, {i['server_syscalls_rw']} r/w syscalls, {i['server_ctxt_switches']} "
                  f"context switches in {i['seconds']:.1f} s ({i['server_cpu_ms_per_s_per_waiter']:.4f} CPU ms/s per "
                  f"waiter over the baseline) -> {'consistent with zero' if i['server_cpu_ms'] / i['seconds'] < 5 else 'CHECK'}")
        p50 = L["after_201_p50_ms"]
        print(f"  delivery within 10 ms of the commit, p50: {fmtv(p50)} ms after the 201 ({L['deliveries']}/"
              f"{L['expected_deliveries']} deliveries) -> "
              + ("NOT MEASURED" if p50 is None else ("MET" if p50 <= 10 and L["messages_not_delivered"] == 0 else "NOT MET")))
        ok_open = (r["waiters_open_at_end"] >= r["waiters"] * 0.99 and i["errors"] == 0
                   and r["waiter_totals"]["errors"] == 0 and L["messages_not_delivered"] == 0)
        print(f"  {r['waiters']} concurrent waiters on one instance (goal 1,000): polls in flight at the end "
              f"{r['waiters_open_at_end']}, waiter errors {r['waiter_totals']['errors']}"
              + (f" (first: {r['waiter_totals']['first_error']})" if r["waiter_totals"]["first_error"] else "")
              + f", undelivered {L['messages_not_delivered']} -> "
              + (("MET" if ok_open else "NOT MET") if r["waiters"] >= 1000 else
                 ("held, but fewer than 1,000 waiters" if ok_open else "NOT MET")))
        print()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("setup")
    sp.add_argument("--base", required=True)
    sp.add_argument("--work", required=True)
    sp.add_argument("--ids", type=int, default=1000)
    sp = sub.add_parser("run")
    sp.add_argument("--base", required=True)
    sp.add_argument("--work", required=True)
    sp.add_argument("--waiters", type=int, default=1000)
    sp.add_argument("--backend", default="?")
    sp.add_argument("--label")
    sp.add_argument("--wait", type=int, default=30, help="the long poll's wait (s, ≤ 30); > --idle")
    sp.add_argument("--idle", type=float, default=10.0)
    sp.add_argument("--no-baseline", dest="baseline", action="store_false")
    sp.add_argument("--messages", type=int, default=200)
    sp.add_argument("--gap-ms", type=float, default=20.0)
    sp.add_argument("--small", type=int, default=256, help="plaintext bytes of each message")
    sp.add_argument("--deliver-timeout", type=float, default=3.0)
    sp.add_argument("--watch-pid", type=int, required=True)
    sp.add_argument("--db-url", help="postgres://… of the maintenance db for pg_stat_database (PostgreSQL only)")
    sp.add_argument("--db-name")
    sp.add_argument("--db-port", type=int, default=5432)
    sp.add_argument("--json")
    sp = sub.add_parser("summary")
    sp.add_argument("--jsonl", required=True)
    sp.add_argument("--note", action="append")
    a = p.parse_args()
    if a.cmd == "setup":
        asyncio.run(setup(a))
    elif a.cmd == "run":
        a.base = a.base.rstrip("/")
        a.label = a.label or a.backend
        if a.wait > 30:
            sys.exit("--wait is at most 30 (the depot refuses more)")
        try:
            import uvloop  # noqa: F401
        except ImportError:
            pass
        asyncio.run(run(a))
    else:
        summary(a)


if __name__ == "__main__":
    main()
