#!/usr/bin/env python3
"""Setup, sealed bodies, preflight, closed-loop driver and summary of benches/depot.sh.

  setup     --base URL --work DIR
            With the bootstrapped admin (WORK/bench-admin.pem): three organizations, the system
            client bench-sender (depot:send depot:read, organization → identity.cbe) and two
            recipients bench-rcpt-1/-2 (depot:read, each its own organization) with a P-256
            private_key_jwt key each, and an EC P-256 `enc` key per recipient through
            POST /admin/keys. Checks that each client's token carries identity
            {"profile": "system", "cbe": …}. Writes WORK/setup.json.
  seal      --work DIR --sizes "1k 10k 1m"
            One JWE per size (jwcrypto; general JSON serialization, enc A256GCM, one recipient
            entry per recipient key, alg ECDH-ES+A256KW, kid = the kid the admin API answered),
            random plaintext sized so that the `sealed` text is the size asked (±3 bytes).
            Writes WORK/body-SIZE.json = {"application":"bench","recipients":[cbe, cbe],"sealed":…}.
  preflight --base URL --work DIR --sizes …
            Per size: one POST (201, Location, id, timestamp whose imprint is SHA-256 of the
            sealed text, sender identity), GET by both recipients (200, `sealed` equal to what was
            posted, and byte for byte?), both recipients decrypt it (jwcrypto).
  ingest    --base URL --work DIR --size S --concurrency N --duration D --warmup W
            [--watch-pid P --db-pid P --ids-out FILE --label L --json OUT]
            A fresh sender token, then POST /depot/messages with WORK/body-S.json back to back
            (closed loop, one keep-alive connection per worker, no Idempotency-Key); only 201s
            count. The ids of every 201 go to --ids-out. Server VmHWM is reset just before the run
            (clear_refs 5) and read after it, with VmRSS.
  fetch     --base URL --work DIR --size S --ids FILE --concurrency N … [--client bench-rcpt-1]
            [--first-pass] [--max-ids N]
            A fresh recipient token, then GET /depot/messages/{id} over the ids (shuffled once,
            a cursor kept in IDS.cursor-CLIENT across runs); a 200 whose body is at least the
            sealed size counts. `first_fetches` = answers that were the recipient's first fetch
            of that message (which records its receivedAt receipt, a write). --first-pass: no
            warm-up, no time window: every id not fetched yet, once, then stop; afterwards every
            fetch of these ids is a re-read.
  summary   --ingest JSONL --fetch JSONL --peers-results DIR [--speed JSONL] [--pg-ceiling JSONL] [--note TEXT…]
            The tables of benches/depot.sh (medians, ceiling ratios, goals). The ceiling figures come
            from the same-sitting files (--pg-ceiling: pgbench per client count; --speed: openssl speed)
            when given, else from --peers-results; the summary says which.

Run by benches/depot.sh; the measured part (ingest, fetch) is stdlib asyncio plus
benches/bench_client.py (PYTHONPATH), one thread, pinned to CPU 1 by the script.
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import re
import statistics as st
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_client import (assertion, closed_loop, keygen, loopback_target,  # noqa: E402
                          proc_status_kb, reset_peak_rss)

SENDER = "bench-sender"
RECIPIENTS = ["bench-rcpt-1", "bench-rcpt-2"]
ADMIN = "bench-admin"
APPLICATION = "bench"
ID_RE = re.compile(rb'"id"\s*:\s*"([^"]{1,64})"')


def size_bytes(text):
    m = re.fullmatch(r"(\d+)([km]?)", text.lower())
    if not m:
        sys.exit(f"bad size {text!r}: use N, Nk or Nm (1k = 1024 bytes)")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2)]


def cbe(first8):
    """A valid CBE (enterprise number): last two digits = 97 − (first eight mod 97)."""
    return f"{first8}{97 - int(first8) % 97:02d}"


def b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Unexpected(SystemExit):
    pass


def http(method, url, body=None, token=None, form=None, headers=None):
    """(status, headers, raw body) of one request; never raises on an HTTP status."""
    data, hdrs = None, dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["content-type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs["content-type"] = "application/json"
    if token:
        hdrs["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def expect(what, method, url, answer, statuses, sent=None):
    status, _, raw = answer
    if status in statuses:
        return
    shown = "" if sent is None else "\n  request body: " + (sent if isinstance(sent, str) else json.dumps(sent))[:1500]
    raise Unexpected(f"{what}: unexpected answer\n  {method} {url}{shown}\n  -> HTTP {status}: "
                     f"{raw[:2000].decode('utf-8', 'replace')}")


def token(base, client_id, pem, scope, resource=None):
    """A client_credentials access token (private_key_jwt), and its claims."""
    form = {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(pem, client_id, client_id, f"{base}/oauth2/token"),
            "scope": scope}
    if resource:
        form["resource"] = resource
    url = f"{base}/oauth2/token"
    ans = http("POST", url, form=form)
    expect(f"token for {client_id}", "POST", url, ans, (200,),
           sent=f"grant_type=client_credentials&scope={scope}&resource={resource}&client_assertion=<ES256 JWT>")
    tok = json.loads(ans[2])
    return tok["access_token"], b64json(tok["access_token"].split(".")[1]), tok.get("expires_in")


def load_setup(work):
    with open(f"{work}/setup.json") as f:
        return json.load(f)


# ---------------------------------------------------------------- setup


def cmd_setup(a):
    from cryptography.hazmat.primitives.asymmetric import ec

    from bench_client import b64

    base, work = a.base.rstrip("/"), a.work
    admin, _, _ = token(base, ADMIN, f"{work}/{ADMIN}.pem", "admin")
    orgs = {SENDER: cbe("08880001"), RECIPIENTS[0]: cbe("08880002"), RECIPIENTS[1]: cbe("08880003")}
    for client_id, number in orgs.items():
        body = {"cbe": number, "name": f"Benchmark organization of {client_id}"}
        url = f"{base}/admin/organizations"
        expect("POST /admin/organizations", "POST", url, http("POST", url, body, admin), (201,), body)
    scopes = {SENDER: ["depot:send", "depot:read"], **{r: ["depot:read"] for r in RECIPIENTS}}
    for client_id, sc in scopes.items():
        keygen(work, client_id)
        with open(f"{work}/{client_id}.jwks.json") as f:
            jwks = json.load(f)
        body = {"client_id": client_id, "type": "system", "name": f"depot benchmark {client_id}",
                "organization": orgs[client_id], "redirect_uris": [], "scopes": sc, "jwks": jwks}
        url = f"{base}/admin/clients"
        expect(f"registering {client_id}", "POST", url, http("POST", url, body, admin), (201,), body)
    enc = {}
    for client_id in RECIPIENTS:
        key = ec.generate_private_key(ec.SECP256R1())
        n = key.private_numbers()
        public = {"kty": "EC", "crv": "P-256",
                  "x": b64(n.public_numbers.x.to_bytes(32, "big")), "y": b64(n.public_numbers.y.to_bytes(32, "big"))}
        body = {"client_id": client_id, "use": "enc", "name": "benchmark enc key", "jwk": public}
        url = f"{base}/admin/keys"
        ans = http("POST", url, body, admin)
        expect(f"enc key of {client_id}", "POST", url, ans, (201,), body)
        stored = json.loads(ans[2])
        kid = stored.get("kid")
        if not kid:
            raise Unexpected(f"POST /admin/keys answered no kid: {ans[2][:500].decode()}")
        private = {**public, "d": b64(n.private_value.to_bytes(32, "big")), "kid": kid}
        with open(f"{work}/{client_id}.enc.jwk.json", "w") as f:
            json.dump(private, f)
        enc[client_id] = {"kid": kid, "public": {**public, "kid": kid}, "stored": stored}
    identities = {}
    for client_id, sc in scopes.items():
        _, claims, _ = token(base, client_id, f"{work}/{client_id}.pem", " ".join(sc))
        identity = claims.get("identity")
        if identity != {"profile": "system", "cbe": orgs[client_id]}:
            raise Unexpected(f"the token of {client_id} has identity {identity!r}, expected "
                             f"{{'profile': 'system', 'cbe': {orgs[client_id]!r}}}; claims: {json.dumps(claims)}")
        identities[client_id] = {"identity": identity, "keys": claims.get("keys"), "aud": claims.get("aud")}
    setup = {"base": base, "application": APPLICATION, "organizations": orgs, "sender": SENDER,
             "recipients": [{"client_id": r, "cbe": orgs[r], "kid": enc[r]["kid"], "public": enc[r]["public"]}
                            for r in RECIPIENTS],
             "tokens": identities, "bodies": {}}
    with open(f"{work}/setup.json", "w") as f:
        json.dump(setup, f, indent=1)
    print(f"setup: organizations {', '.join(orgs.values())}; clients {SENDER} (cbe {orgs[SENDER]}), "
          + ", ".join(f"{r} (cbe {orgs[r]}, enc kid {enc[r]['kid']})" for r in RECIPIENTS)
          + "; every token carries identity {profile: system, cbe}")


# ---------------------------------------------------------------- sealed bodies


def seal_text(plaintext, recipients):
    from jwcrypto import jwe, jwk

    e = jwe.JWE(plaintext, protected=json.dumps({"enc": "A256GCM"}))
    for r in recipients:
        e.add_recipient(jwk.JWK(**r["public"]), header=json.dumps({"alg": "ECDH-ES+A256KW", "kid": r["kid"]}))
    return json.dumps(json.loads(e.serialize()), separators=(",", ":"))


def cmd_seal(a):
    setup = load_setup(a.work)
    recipients = setup["recipients"]
    overhead = len(seal_text(b"", recipients))
    for size in a.sizes.split():
        target = size_bytes(size)
        n = max(0, (target - overhead) * 3 // 4)
        for _ in range(4):
            plaintext = os.urandom(n)
            text = seal_text(plaintext, recipients)
            diff = target - len(text)
            if abs(diff) <= 3:
                break
            n = max(0, n + diff * 3 // 4)
        body = (json.dumps({"application": APPLICATION,
                            "recipients": [{"type": "cbe", "value": r["cbe"]} for r in recipients]},
                           separators=(",", ":"))[:-1] + ',"sealed":' + text + "}").encode()
        json.loads(body)  # well-formed
        with open(f"{a.work}/body-{size}.json", "wb") as f:
            f.write(body)
        setup["bodies"][size] = {"target_bytes": target, "sealed_bytes": len(text), "body_bytes": len(body),
                                 "plaintext_bytes": len(plaintext),
                                 "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
                                 "sealed_sha256": hashlib.sha256(text.encode()).hexdigest()}
        print(f"sealed {size}: {len(text)} B sealed text (target {target}), {len(plaintext)} B plaintext, "
              f"{len(body)} B request body, 2 recipients (ECDH-ES+A256KW), A256GCM")
    with open(f"{a.work}/setup.json", "w") as f:
        json.dump(setup, f, indent=1)


# ---------------------------------------------------------------- preflight


def sealed_of(body):
    return json.loads(body)["sealed"]


def cmd_preflight(a):
    from jwcrypto import jwe, jwk

    base, work = a.base.rstrip("/"), a.work
    setup = load_setup(work)
    send_tok, _, _ = token(base, SENDER, f"{work}/{SENDER}.pem", "depot:send")
    read_tok = {r["client_id"]: token(base, r["client_id"], f"{work}/{r['client_id']}.pem", "depot:read")[0]
                for r in setup["recipients"]}
    url = f"{base}/depot/messages"
    for size in a.sizes.split():
        meta = setup["bodies"][size]
        with open(f"{work}/body-{size}.json", "rb") as f:
            body = f.read()
        posted_sealed = sealed_of(body)
        sealed_text = json.dumps(posted_sealed, separators=(",", ":"))
        ans = http("POST", url, body, send_tok)
        expect(f"preflight {size}: POST", "POST", url, ans, (201,),
               body.decode()[:600] + f"… ({len(body)} B)")
        status, headers, raw = ans
        created = json.loads(raw)
        mid = created.get("id")
        notes = []
        if headers.get("location") not in (f"/depot/messages/{mid}", f"{base}/depot/messages/{mid}"):
            notes.append(f"Location {headers.get('location')!r} does not name the message {mid}")
        if (created.get("sender") or {}).get("identity") != setup["tokens"][SENDER]["identity"]:
            notes.append(f"sender {created.get('sender')!r}")
        der = base64.b64decode(created.get("timestamp", ""))
        if hashlib.sha256(sealed_text.encode()).digest() not in der:
            notes.append("the timestamp does not contain SHA-256(sealed) as its imprint")
        fetched = {}
        for r in setup["recipients"]:
            gurl = f"{base}/depot/messages/{mid}"
            g = http("GET", gurl, token=read_tok[r["client_id"]])
            expect(f"preflight {size}: GET as {r['client_id']}", "GET", gurl, g, (200,))
            fetched[r["client_id"]] = g[2]
            got = json.loads(g[2])
            if got.get("sealed") != posted_sealed:
                raise Unexpected(f"preflight {size}: GET as {r['client_id']} answers a different `sealed` "
                                 f"than was posted (id {mid})")
            key = jwk.JWK(**json.load(open(f"{work}/{r['client_id']}.enc.jwk.json")))
            e = jwe.JWE()
            e.deserialize(json.dumps(got["sealed"]), key=key)
            if hashlib.sha256(e.payload).hexdigest() != meta["plaintext_sha256"]:
                raise Unexpected(f"preflight {size}: {r['client_id']} decrypts something else")
        byte_identical = all(sealed_text.encode() in raw for raw in fetched.values())
        if not byte_identical:
            notes.append("the fetched `sealed` object is equal but not byte-identical to the posted text "
                         "(the imprint cannot be rechecked from the fetched copy)")
        print(f"preflight {size}: POST 201 id {mid} ({meta['sealed_bytes']} B sealed); GET 200 by "
              f"{' and '.join(fetched)}; `sealed` as posted ({'byte-identical' if byte_identical else 'equal JSON'}); "
              f"both recipients decrypt it; timestamp imprint "
              f"{'= SHA-256(sealed)' if 'imprint' not in ' '.join(notes) else 'MISMATCH'}")
        for n in notes:
            print(f"  NOTE {size}: {n}")


# ---------------------------------------------------------------- measured runs


def request_head(method, path, host, port, tok, extra=()):
    return "\r\n".join([f"{method} {path} HTTP/1.1", f"host: {host}:{port}", f"authorization: Bearer {tok}", *extra])


def finish(a, r, kind, setup, extra):
    mem = proc_status_kb(a.watch_pid) if a.watch_pid else {}
    r.update(server_vm_hwm_kb=mem.get("VmHWM"), server_vm_rss_kb=mem.get("VmRSS"))
    r.update(extra)
    meta = setup["bodies"][a.size]
    report = {"label": a.label, "mode": kind, "backend": a.backend, "size": a.size,
              "first_pass": bool(getattr(a, "first_pass", False)),
              "sealed_bytes": meta["sealed_bytes"], "body_bytes": meta["body_bytes"],
              "url": f"{a.base}/depot/messages", "generator": "benches/depot_driver.py (asyncio, 1 thread)",
              "duration_s": a.duration, "warmup_s": a.warmup, "runs_per_level": 1, "unix_time": int(time.time()),
              "levels": [{"concurrency": a.concurrency, "median_rps": r["rps"], "median_p50_us": r["p50_us"],
                          "median_p99_us": r["p99_us"], "runs": [r]}]}
    hwm = "-" if r["server_vm_hwm_kb"] is None else f"{r['server_vm_hwm_kb'] / 1024:.1f}"
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    print(f"{a.label:<24} {a.concurrency:>4} {r['rps']:>10.1f}/s p50 {r['p50_us'] / 1000:.3f} p90 {r['p90_us'] / 1000:.3f} "
          f"p99 {r['p99_us'] / 1000:.3f} max {r['max_us'] / 1000:.3f} ms  peakRSS {hwm} MiB  srvCPU {fmt(r['server_cpu_pct'])}% "
          f"dbCPU {fmt(r['tree_cpu_pct'])}% genCPU {fmt(r['gen_cpu_pct'])}%  errors {r['errors']}"
          + (f" {r['error_kinds']}" if r["errors"] else "")
          + (f"  first-fetch {r['first_fetches']}/{r['ok']}" if kind == "fetch" else ""), flush=True)
    if r["first_error"]:
        print(f"  first error: {r['first_error']}", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


def run_loop(a, request, check, on_ok):
    host, port, _ = loopback_target(a.base)
    hwm_reset = reset_peak_rss(a.watch_pid) if a.watch_pid else False
    r = asyncio.run(closed_loop(host, port, a.concurrency, a.warmup, a.duration, request, check, on_ok,
                                max_requests=a.max_requests, watch_pid=a.watch_pid, tree_pid=a.db_pid))
    r["run"] = 1
    r["hwm_reset"] = hwm_reset
    return r


def check_token_life(expires_in, a):
    if expires_in is not None and expires_in < a.warmup + a.duration + 5:
        print(f"WARNING: the access token lives {expires_in} s, less than warm-up + duration", file=sys.stderr)


def cmd_ingest(a):
    setup = load_setup(a.work)
    host, port, _ = loopback_target(a.base)
    with open(f"{a.work}/body-{a.size}.json", "rb") as f:
        body = f.read()
    tok, _, life = token(a.base, SENDER, f"{a.work}/{SENDER}.pem", "depot:send")
    check_token_life(life, a)
    request = (request_head("POST", "/depot/messages", host, port, tok,
                            ["content-type: application/json", f"content-length: {len(body)}"])
               + "\r\n\r\n").encode() + body
    ids = []

    def check(_i, status, _head, raw):
        if status != 201:
            return f"HTTP {status}: {raw[:400].decode('utf-8', 'replace')}"
        if ID_RE.search(raw) is None:
            return f"HTTP 201 without an id: {raw[:300].decode('utf-8', 'replace')}"
        return None

    def on_ok(_i, _status, _head, raw, _counted):
        ids.append(ID_RE.search(raw).group(1))

    r = run_loop(a, lambda _i: request, check, on_ok)
    if a.ids_out:
        with open(a.ids_out, "ab") as f:
            f.write(b"".join(i + b"\n" for i in ids))
    finish(a, r, "ingest", setup, {"messages_stored": len(ids)})


def cmd_fetch(a):
    setup = load_setup(a.work)
    host, port, _ = loopback_target(a.base)
    with open(a.ids, "rb") as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        sys.exit(f"no message ids in {a.ids}")
    if a.max_ids:
        ids = ids[-a.max_ids:]  # the latest ones
    random.Random(1).shuffle(ids)
    state_path = f"{a.ids}.cursor-{a.client}"
    cursor = [json.load(open(state_path))["cursor"] if os.path.exists(state_path) else 0]
    if a.first_pass:
        a.max_requests, a.warmup = len(ids) - cursor[0], 0.0
        if a.max_requests <= 0:
            sys.exit(f"every id of {a.ids} was fetched already")
    tok, _, life = token(a.base, a.client, f"{a.work}/{a.client}.pem", "depot:read")
    if not a.first_pass:
        check_token_life(life, a)
    prefix = b"GET /depot/messages/"
    suffix = (" HTTP/1.1\r\n" + request_head("X", "/", host, port, tok).split("\r\n", 1)[1] + "\r\n\r\n").encode()
    min_len = setup["bodies"][a.size]["sealed_bytes"]
    first = [False] * a.concurrency
    firsts = [0]

    def request(i):
        k = cursor[0]
        cursor[0] += 1
        first[i] = k < len(ids)
        return prefix + ids[k % len(ids)] + suffix

    def check(_i, status, _head, raw):
        if status != 200:
            return f"HTTP {status}: {raw[:400].decode('utf-8', 'replace')}"
        if len(raw) < min_len:
            return f"HTTP 200 with {len(raw)} B, less than the sealed message ({min_len} B)"
        return None

    def on_ok(i, _status, _head, _raw, counted):
        if counted and first[i]:
            firsts[0] += 1

    r = run_loop(a, request, check, on_ok)
    with open(state_path, "w") as f:
        json.dump({"cursor": cursor[0]}, f)
    finish(a, r, "fetch", setup, {"client": a.client, "ids_available": len(ids), "first_fetches": firsts[0],
                                  "first_fetch_share": firsts[0] / r["ok"] if r["ok"] else None})


# ---------------------------------------------------------------- summary


def pick(rows):
    clean = [r for r in rows if r.get("clean")]
    return (clean or rows), f"{len(clean)}/{len(rows)}"


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return st.median(vals) if vals else None


def runs_of(path):
    out = []
    if not path or not os.path.exists(path):
        return out
    for line in open(path):
        if not line.strip():
            continue
        rec = json.loads(line)
        for lv in rec["levels"]:
            for r in lv["runs"]:
                out.append({**r, "tag": rec["tag"], "backend": rec["backend"], "size": rec["size"],
                            "what": "first" if rec.get("first_pass") else ("re-read" if rec["mode"] == "fetch" else ""),
                            "sealed_bytes": rec["sealed_bytes"], "clean": rec.get("clean", True),
                            "foreign": rec.get("guard", {}).get("foreign_pct")})
    return out


def ceilings(a):
    """The ceiling figures and where each came from: {"pg": {clients: inserts/s}, "pg_src", "pg_same",
    "sign", "verify", "sign_src", "sign_same"}. Same-sitting files (--pg-ceiling, --speed) win over
    --peers-results; the source line says which was used."""
    c = {"pg": {}, "pg_src": None, "pg_same": False, "sign": None, "verify": None, "sign_src": None,
         "sign_same": False}
    if a.pg_ceiling and os.path.exists(a.pg_ceiling):
        rows = [json.loads(x) for x in open(a.pg_ceiling) if x.strip()]
        parts = []
        for clients in sorted({r["clients"] for r in rows}):
            rs, cl = pick([r for r in rows if r["clients"] == clients])
            c["pg"][clients] = st.median(r["tps"] for r in rs if r.get("tps") is not None)
            p99 = med(rs, "p99_ms")
            parts.append(f"{clients} clients {c['pg'][clients]:.0f}/s (p99 {fmt(p99, '.2f')} ms, clean {cl}: "
                         + ", ".join(f"{r['tps']:.0f}" for r in rs) + ")")
        if c["pg"]:
            pin = rows[0].get("pinned")
            c["pg_same"] = True
            c["pg_src"] = (f"measured in this sitting, {a.pg_ceiling}: pgbench -M simple, the peers' `literal` "
                           f"script (10 KiB payload as a hex literal + jsonb, one INSERT per transaction, "
                           f"synchronous_commit as in force), {'pgbench on CPU ' + pin if pin else 'unpinned as peers/pg/bench.sh'}; "
                           f"medians: " + "; ".join(parts))
    if not c["pg"]:
        try:
            for line in open(f"{a.peers_results}/pg_insert_summary.txt"):
                f = line.split()
                if f and f[0] == "literal":
                    c["pg"][8] = float(f[1])
                    c["pg_src"] = (f"NOT this sitting: {a.peers_results}/pg_insert_summary.txt row `literal` "
                                   f"(8 pgbench clients only; used for every concurrency)")
        except OSError:
            pass
    if a.speed and os.path.exists(a.speed):
        rows = [json.loads(x) for x in open(a.speed) if x.strip()]
        if rows:
            rs, cl = pick(rows)
            c["sign"] = st.median(r["ecdsap256_sign_per_s"] for r in rs)
            c["verify"] = st.median(r["ecdsap256_verify_per_s"] for r in rs)
            c["sign_same"] = True
            c["sign_src"] = (f"measured in this sitting, {a.speed}: openssl speed ecdsap256 on CPU 0 (median, clean {cl}: "
                             + ", ".join(f"{r['ecdsap256_sign_per_s']:.0f}" for r in rs) + ")")
    if c["sign"] is None:
        try:
            m = re.search(r"ECDSA P-256:\s+([\d.]+) sign/s\s+([\d.]+) verify/s", open(f"{a.peers_results}/tsa_summary.txt").read())
            if m:
                c["sign"], c["verify"] = float(m.group(1)), float(m.group(2))
                c["sign_src"] = f"NOT this sitting: openssl speed ecdsap256, {a.peers_results}/tsa_summary.txt"
        except OSError:
            pass
    return c


def pg_at(c, conc):
    """The PostgreSQL insert ceiling for `conc` concurrent writers: the same concurrency when measured,
    else (peers' stored figure) the 8-client row."""
    if conc in c["pg"]:
        return c["pg"][conc]
    return None if c["pg_same"] else c["pg"].get(8)


def fmt(v, spec=".0f", none="-"):
    return none if v is None else format(v, spec)


def cmd_summary(a):
    ingest, fetch = runs_of(a.ingest), runs_of(a.fetch)
    c = ceilings(a)
    sign = c["sign"]

    def ceil_at(conc):
        pg = pg_at(c, conc)
        return 1 / (1 / pg + 1 / sign) if pg and sign else None
    print("# depot ingest benchmark: POST /depot/messages (sealed JWE, general JSON, A256GCM, 2 recipients "
          "ECDH-ES+A256KW, to 2 CBE boxes), then GET /depot/messages/{id}")
    print("# server: depot serve (release build; which binary: machine-depot*.txt), DEPOT_WORKERS=1, pinned to CPU 0; generator: benches/depot_driver.py "
          "(Python asyncio, 1 thread, one keep-alive connection per worker, closed loop) on CPU 1")
    print("# medians over the runs of each row (clean runs only when there are any); latency per request; only 201s "
          "(ingest) / 200s (fetch) count; everything else is an error")
    for n in a.note or []:
        print(f"# {n}")
    print()
    same = c["pg_same"] and c["sign_same"]
    print(f"ceiling ({'every figure from this sitting' if same else 'NOT all from this sitting: see the sources'}):")
    print(f"  PostgreSQL insert (10 KiB rows): {c['pg_src'] or 'not found'}")
    print(f"  P-256: {fmt(sign)} sign/s, {fmt(c['verify'])} verify/s — {c['sign_src'] or 'not found'}")
    if c["pg"] and sign:
        print("  ceiling per concurrency = 1 / (1/pg + 1/sign): "
              + "; ".join(f"{k}: 1/(1/{v:.0f} + 1/{sign:.0f}) = {1 / (1 / v + 1 / sign):.0f} msg/s" for k, v in sorted(c["pg"].items())))
    print("  'vs pg' = the 10 KiB rate / the PostgreSQL insert rate at the same concurrency (the goal's ratio); "
          "'vs ceil' = / the combined ceiling; 1 KiB and 1 MiB have no ceiling row of their own")
    print()

    bw = max([9] + [len(r["backend"]) for r in ingest + fetch])

    def table(rows, kind):
        if not rows:
            print(f"(no {kind} runs)")
            return {}
        unit = "msg/s" if kind == "ingest" else "fetch/s"
        last = "vs pg  vs ceil" if kind == "ingest" else "1st-fetch"
        w = 8 if kind == "fetch" else 0
        print(f"{'backend':<{bw}} {'size':>5} {'sealed B':>9} {'what' if w else '':<{w}}{' ' if w else ''}{'conc':>4} {unit:>9} {'p50 ms':>8} {'p90 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8} {'peakRSS':>8} {'RSS':>7} {'srvCPU%':>7} {'dbCPU%':>7} {'genCPU%':>7} "
              f"{'srv us/op':>9} {last:>9} {'errors':>6} {'clean':>5}  runs {unit}")
        out = {}
        for key in dict.fromkeys((r["backend"], r["size"], r["concurrency"], r["what"]) for r in rows):
            rs, cl = pick([r for r in rows if (r["backend"], r["size"], r["concurrency"], r["what"]) == key])
            rps = med(rs, "rps")
            us = med([{"v": r["server_cpu_pct"] * 1e4 / r["rps"]} for r in rs
                      if r.get("server_cpu_pct") is not None and r["rps"] > 0], "v")
            hwm = med(rs, "server_vm_hwm_kb")
            rss = med(rs, "server_vm_rss_kb")
            if kind == "ingest":
                pg, ce = pg_at(c, key[2]), ceil_at(key[2])
                ratio = (f"{fmt(rps / pg * 100 if pg else None, '.1f'):>5}% {fmt(rps / ce * 100 if ce else None, '.1f'):>6}%"
                         if key[1] == "10k" else f"{'n/a':>6} {'n/a':>7}")
            else:
                share = med(rs, "first_fetch_share")
                ratio = "-" if share is None else f"{share * 100:.0f}%"
            errors = sum(r["errors"] for r in rs)
            p = lambda k: fmt(med(rs, k) / 1000 if med(rs, k) is not None else None, ".3f")  # noqa: E731
            print(f"{key[0]:<{bw}} {key[1]:>5} {rs[0]['sealed_bytes']:>9} {key[3]:<{w}}{' ' if w else ''}{key[2]:>4} {rps:>9.1f} {p('p50_us'):>8} "
                  f"{p('p90_us'):>8} {p('p99_us'):>8} {p('max_us'):>8} "
                  f"{fmt(hwm / 1024 if hwm else None, '.1f'):>8} {fmt(rss / 1024 if rss else None, '.1f'):>7} "
                  f"{fmt(med(rs, 'server_cpu_pct')):>7} {fmt(med(rs, 'tree_cpu_pct')):>7} "
                  f"{fmt(med(rs, 'gen_cpu_pct')):>7} {fmt(us, '.0f'):>9} {ratio:>9} {errors:>6} {cl:>5}  "
                  + ", ".join(f"{r['rps']:.0f}" for r in rs))
            out[key[:3]] = {"rps": rps, "p99_us": med(rs, "p99_us"), "gen": med(rs, "gen_cpu_pct"), "errors": errors}
            kinds = {}
            for r in rs:
                for k, v in (r.get("error_kinds") or {}).items():
                    kinds[k] = kinds.get(k, 0) + v
            if kinds:
                first = next((r["first_error"] for r in rs if r.get("first_error")), "")
                print(f"{'':<15} errors {kinds}; first: {first[:300]}")
        return out

    print("== ingest: POST /depot/messages, bearer token of bench-sender (depot:send)")
    ing = table(ingest, "ingest")
    print("# peakRSS = the depot's VmHWM in MiB over the run (reset just before it; "
          "'hwm_reset' false in the jsonl = peak since the server started); RSS = VmRSS after the run;")
    print("# srvCPU% = the depot process (HTTP, JWE checks, its own RFC 3161 signing, in-process for the co-hosted TSA); "
          "dbCPU% = the whole PostgreSQL cluster (postmaster tree; 0 for SQLite), both in % of one core;")
    print("# srv us/op = depot CPU per message; genCPU% near 100 means the Python generator, not the server, "
          "may be the limit.")
    print()
    src = "this sitting's" if c["pg_same"] else "the peers' stored (NOT same-sitting, 8 clients)"
    for backend in dict.fromkeys(k[0] for k in ing if k[1] == "10k"):
        levels = {k[2]: v for k, v in ing.items() if k[0] == backend and k[1] == "10k"}
        print(f"goals (10 KiB, {backend}):")
        if 32 in levels:
            v, pg = levels[32], pg_at(c, 32)
            if pg:
                ok = v["rps"] >= 0.7 * pg and v["errors"] == 0
                print(f"  ingest at conc 32 ≥ 70 % of {src} PostgreSQL insert rate at 32 clients ({pg:.0f}/s -> "
                      f"{0.7 * pg:.0f}/s): {v['rps']:.0f}/s = {v['rps'] / pg * 100:.1f}% -> {'MET' if ok else 'NOT MET'}"
                      + ("" if v["errors"] == 0 else f" ({v['errors']} errors)"))
            else:
                print("  ingest at conc 32 ≥ 70 % of the PostgreSQL insert ceiling at 32 clients: no ceiling figure "
                      "for 32 clients (CEIL_CONC without 32?)")
            p99 = v["p99_us"] / 1000
            print(f"  p99 < 20 ms at conc 32: p99 = {p99:.3f} ms -> {'MET' if p99 < 20 else 'NOT MET'}")
        else:
            print("  ingest ≥ 70 % of the ceiling and p99 < 20 ms at conc 32: not measured (conc 32 not in CONC)")
        others = [f"conc {k}: {v['rps']:.0f}/s" + (f" = {v['rps'] / pg_at(c, k) * 100:.1f}% of pg" if pg_at(c, k) else "")
                  for k, v in sorted(levels.items()) if k != 32]
        if others:
            print("  (other levels: " + "; ".join(others) + ")")
        if "+amqp" in backend:
            off = backend.replace("+amqp", "", 1)
            base = {k[2]: v for k, v in ing.items() if k[0] == off and k[1] == "10k"}
            common = sorted(set(base) & set(levels))
            if common:
                parts = [f"conc {k}: {levels[k]['rps']:.0f} vs {base[k]['rps']:.0f}/s = "
                         f"{(levels[k]['rps'] / base[k]['rps'] - 1) * 100:+.1f}%" for k in common]
                met = all(levels[k]["rps"] >= 0.9 * base[k]["rps"] for k in common)
                print(f"  notifications on within 10 % of off ({backend} vs {off}, same sitting): " + "; ".join(parts)
                      + f" -> {'MET' if met else 'NOT MET'}" + ("" if met else " at conc " + ", ".join(
                          str(k) for k in common if levels[k]["rps"] < 0.9 * base[k]["rps"])))
            else:
                print(f"  notifications on within 10 % of off: no {off} rows at the same levels (NOTIFY=\"off on\")")
        high_gen = [k for k, v in levels.items() if v["gen"] and v["gen"] >= 90]
        if high_gen:
            print(f"  caution: the generator used ≥ 90 % of its core at conc {high_gen}: the rate may be the "
                  f"generator's limit, not the server's")
    if any(k[1] == "10k" for k in ing) and not any("+amqp" in k[0] for k in ing):
        print("  notifications on within 10 % of off: not measured (NOTIFY=\"off on\" with RabbitMQ running)")
    print()
    print("== fetch: GET /depot/messages/{id} over the ingested ids, bearer token of bench-rcpt-1 (depot:read)")
    table(fetch, "fetch")
    print("# first = one pass over every ingested id, each fetched once (the recipient's first fetch records its "
          "receivedAt receipt: a read + a write), no warm-up, until the ids run out;")
    print("# re-read = the same ids again (receipt already recorded), closed loop for the time window; "
          "1st-fetch = share of first fetches among the counted answers.")


# ---------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, base=True):
        if base:
            sp.add_argument("--base", required=True, help="http://127.0.0.1:PORT (loopback only)")
        sp.add_argument("--work", required=True)

    sp = sub.add_parser("setup")
    common(sp)
    sp = sub.add_parser("seal")
    common(sp, base=False)
    sp.add_argument("--sizes", default="1k 10k 1m")
    sp = sub.add_parser("preflight")
    common(sp)
    sp.add_argument("--sizes", default="1k 10k 1m")
    for name in ("ingest", "fetch"):
        sp = sub.add_parser(name)
        common(sp)
        sp.add_argument("--size", required=True)
        sp.add_argument("--backend", default="?")
        sp.add_argument("--concurrency", type=int, required=True)
        sp.add_argument("--duration", type=float, default=15.0)
        sp.add_argument("--warmup", type=float, default=2.0)
        sp.add_argument("--watch-pid", type=int, help="the depot server (CPU, VmHWM, VmRSS)")
        sp.add_argument("--db-pid", type=int, help="the PostgreSQL postmaster (CPU of its process tree)")
        sp.add_argument("--max-requests", type=int, default=5_000_000)
        sp.add_argument("--label", default=name)
        sp.add_argument("--json")
        if name == "ingest":
            sp.add_argument("--ids-out")
        else:
            sp.add_argument("--ids", required=True)
            sp.add_argument("--client", default=RECIPIENTS[0])
            sp.add_argument("--first-pass", action="store_true")
            sp.add_argument("--max-ids", type=int, default=0, help="use only the last N ids of the file (0: all)")
    sp = sub.add_parser("summary")
    sp.add_argument("--ingest")
    sp.add_argument("--fetch")
    sp.add_argument("--peers-results", required=True, help="fallback when the same-sitting files are absent")
    sp.add_argument("--speed", help="openssl speed jsonl of this sitting")
    sp.add_argument("--pg-ceiling", help="pgbench ceiling jsonl of this sitting (depot.sh, CEILING=same)")
    sp.add_argument("--note", action="append")
    a = p.parse_args()
    if getattr(a, "base", None):
        a.base = a.base.rstrip("/")
        loopback_target(a.base)
    {"setup": cmd_setup, "seal": cmd_seal, "preflight": cmd_preflight, "ingest": cmd_ingest,
     "fetch": cmd_fetch, "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    main()
