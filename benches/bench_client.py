#!/usr/bin/env python3
"""Shared helpers of the benches/ scripts.

Key material and client assertions (pyca/cryptography, imported only by these):
  bench_client.py keygen DIR KID     -> DIR/KID.pem (PKCS#8) and DIR/KID.jwks.json
  bench_client.py assertion PEM KID CLIENT_ID AUD   -> a fresh ES256 client assertion
  bench_client.py openssl-speed FILE SECONDS -> one JSON line from `openssl speed ecdsap256` output

Closed-loop HTTP/1.1 load (stdlib asyncio; used by tsa.sh's driver and depot_driver.py):
  `closed_loop()` runs N workers, each with its own keep-alive connection, for a warm-up and a
  measured window; `HttpConn` is the minimal response parser behind it; `proc_cpu_s`,
  `tree_cpu`, `proc_status_kb` and `reset_peak_rss` read /proc for the server's CPU and memory.
"""
import asyncio
import base64
import ipaddress
import json
import math
import os
import re
import socket
import sys
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

HZ = os.sysconf("SC_CLK_TCK")
now = time.perf_counter


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------- keys and assertions


def keygen(directory: str, kid: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with open(f"{directory}/{kid}.pem", "wb") as f:
        f.write(pem)
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": kid,
        "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big")),
    }
    with open(f"{directory}/{kid}.jwks.json", "w") as f:
        json.dump({"keys": [jwk]}, f)


def assertion(pem_path: str, kid: str, client_id: str, aud: str) -> str:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    with open(pem_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    t = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", "kid": kid}
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": str(uuid.uuid4()),
              "iat": t, "exp": t + 60}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def openssl_speed(path: str, seconds=None) -> dict:
    """The ECDSA P-256 line of `openssl speed ecdsap256` output."""
    text = open(path).read()
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", text)
    if not m:
        sys.exit("no nistp256 line in the openssl speed output:\n" + text)
    return {"kind": "speed", "seconds": float(seconds) if seconds else None,
            "ecdsap256_sign_per_s": float(m.group(1)), "ecdsap256_verify_per_s": float(m.group(2))}


# ---------------------------------------------------------------- /proc


def proc_cpu_s(pid):
    """User + system CPU seconds of a process (all its threads); None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / HZ


def tree_cpu(root):
    """{(pid, starttime): cpu ticks} of `root` and all its descendants (e.g. the
    postmaster and its backends); diff two snapshots with `tree_cpu_delta_s`."""
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()
        procs[int(d)] = (int(f[1]), int(f[11]) + int(f[12]), int(f[19]))
    out = {}
    for pid, (ppid, cpu, start) in procs.items():
        p, depth = pid, 0
        while p not in (0, 1) and p in procs and depth < 64:
            if p == root:
                out[(pid, start)] = cpu
                break
            p, depth = procs[p][0], depth + 1
    return out


def tree_cpu_delta_s(before, after):
    return sum(cpu - before.get(key, 0) for key, cpu in after.items()) / HZ


def proc_status_kb(pid, fields=("VmHWM", "VmRSS")):
    """Selected `kB` fields of /proc/PID/status (VmHWM = peak resident set size)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in fields:
                    out[name] = int(rest.split()[0])
    except OSError:
        pass
    return out


def reset_peak_rss(pid) -> bool:
    """Resets VmHWM to the current RSS (`echo 5 > /proc/PID/clear_refs`, Linux ≥ 4.0), so
    the next reading is the peak of what came after; False when not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- closed-loop HTTP/1.1


def loopback_target(url):
    """(host, port, path) of an http:// URL on a loopback host; refuses anything else."""
    u = urlsplit(url)
    host = u.hostname or ""
    try:
        loop_ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loop_ok = False
    if u.scheme != "http" or not loop_ok:
        sys.exit(f"refusing {url}: http:// on a loopback host only")
    return host, u.port or 80, (u.path or "/") + (f"?{u.query}" if u.query else "")


class HttpConn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; `fut` resolves to (status, head, body, close)
    with `head` the lower-cased status line and headers. Bodies need a Content-Length."""

    def __init__(self):
        self.buf, self.fut, self.transport, self.closed = bytearray(), None, None, False
        self.head = None  # (head, header length, end of the body) of the answer being read

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        if self.fut is not None and not self.fut.done():
            self.parse()

    def parse(self):
        buf = self.buf
        if self.head is None:
            h = buf.find(b"\r\n\r\n")
            if h < 0:
                return
            head = bytes(buf[:h]).lower()
            j = head.find(b"\r\ncontent-length:")
            if j < 0:
                self.fut.set_exception(ConnectionError(
                    "answer without content-length: " + head[:200].decode("latin-1")))
                return
            e = head.find(b"\r\n", j + 2)
            self.head = (head, h + 4, h + 4 + int(head[j + 17:e if e >= 0 else len(head)]))
        head, start, end = self.head
        if len(buf) < end:
            return
        body = bytes(buf[start:end])
        del buf[:end]
        self.head = None
        self.fut.set_result((int(head[9:12]), head, body, b"\r\nconnection: close" in head))

    def connection_lost(self, exc):
        self.closed = True
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(ConnectionError(f"connection lost: {exc}"))


class LoopStats:
    def __init__(self):
        self.lat, self.ok, self.errors, self.kinds, self.first_error = [], 0, 0, Counter(), None


def quantile(lat, q):
    """hdrhistogram's value_at_quantile on a sorted list: the smallest value with at
    least q of the samples at or below it."""
    return lat[max(0, math.ceil(q * len(lat)) - 1)] if lat else 0


async def _worker(i, cfg, st, request, check, on_ok):
    loop = asyncio.get_running_loop()
    proto = None
    while now() < cfg["t_end"] and cfg["sent"] < cfg["max_requests"]:
        cfg["sent"] += 1
        if proto is None or proto.closed:
            try:
                _, proto = await loop.create_connection(HttpConn, cfg["host"], cfg["port"])
                cfg["conns"][i] = proto
            except OSError as e:
                proto = None
                st.errors += 1
                st.kinds["connect"] += 1
                st.first_error = st.first_error or f"connect: {e}"
                await asyncio.sleep(0.02)
                continue
        req = request(i)
        proto.fut = loop.create_future()
        t0 = now()
        proto.transport.write(req)
        try:
            status, head, body, close = await proto.fut
        except ConnectionError as e:
            status, head, body, close = None, b"", str(e).encode(), True
        t1 = now()
        counted = t0 >= cfg["t_start"] and t1 <= cfg["t_end"]
        err = ("connection: " + body.decode("utf-8", "replace")) if status is None else check(i, status, head, body)
        if err is None:
            if counted:
                st.ok += 1
                st.lat.append(max(1, int((t1 - t0) * 1e6)))
            if on_ok is not None:
                on_ok(i, status, head, body, counted)
        else:
            if counted:
                st.errors += 1
                st.kinds["connection" if status is None else f"HTTP {status}"] += 1
            if st.first_error is None:
                st.first_error = err
        if close:
            proto.transport.close()
            proto = None
    if proto is not None:
        proto.transport.close()


async def closed_loop(host, port, conc, warmup, duration, request, check, on_ok=None,
                      max_requests=5_000_000, watch_pid=None, tree_pid=None, grace=30.0):
    """N workers (one keep-alive connection each) send `request(i)` (bytes: a whole
    HTTP/1.1 request) back to back for `warmup` + `duration` seconds; only the requests
    that start after the warm-up and end inside the window count. `check(i, status,
    head, body)` answers None for a good answer, else an error text (the first one is
    kept); `on_ok(i, status, head, body, counted)` sees every good answer. A worker still
    waiting `grace` s after the window has its connection closed. CPU of `watch_pid`
    (server_cpu_pct) and of the process tree under `tree_pid` (tree_cpu_pct) over the
    whole call, in % of one core."""
    start = now()
    cfg = {"host": host, "port": port, "t_start": start + warmup, "t_end": start + warmup + duration,
           "sent": 0, "max_requests": max_requests, "conns": [None] * conc}
    cpu0 = (time.process_time(), proc_cpu_s(watch_pid) if watch_pid else None,
            tree_cpu(tree_pid) if tree_pid else None, now())
    stats = [LoopStats() for _ in range(conc)]
    tasks = [asyncio.ensure_future(_worker(i, cfg, st, request, check, on_ok)) for i, st in enumerate(stats)]
    _, pending = await asyncio.wait(tasks, timeout=warmup + duration + grace)
    if pending:
        for i, proto in enumerate(cfg["conns"]):
            if proto is not None and not proto.closed:
                proto.transport.abort()
        await asyncio.wait(pending)
    for t in tasks:  # a bug in request/check/on_ok must not pass for a slow worker
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()
    wall = now() - cpu0[3]
    srv = proc_cpu_s(watch_pid) if watch_pid else None
    tree = tree_cpu(tree_pid) if tree_pid else None
    lat = sorted(x for st in stats for x in st.lat)
    ok = sum(st.ok for st in stats)
    kinds = Counter()
    for st in stats:
        kinds.update(st.kinds)
    measured = max(min(now(), cfg["t_end"]) - cfg["t_start"], 1e-9)
    return {"concurrency": conc, "measured_s": measured, "ok": ok, "sent": cfg["sent"],
            "errors": sum(st.errors for st in stats), "error_kinds": dict(kinds), "rps": ok / measured,
            "p50_us": quantile(lat, 0.50), "p90_us": quantile(lat, 0.90), "p99_us": quantile(lat, 0.99),
            "max_us": lat[-1] if lat else 0, "mean_us": sum(lat) / len(lat) if lat else 0.0,
            "gen_cpu_pct": (time.process_time() - cpu0[0]) / wall * 100,
            "server_cpu_pct": (srv - cpu0[1]) / wall * 100 if srv is not None and cpu0[1] is not None else None,
            "tree_cpu_pct": tree_cpu_delta_s(cpu0[2], tree) / wall * 100 if tree is not None else None,
            "stuck_workers": len(pending),
            "first_error": next((st.first_error for st in stats if st.first_error), None)}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "keygen":
        keygen(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "assertion":
        print(assertion(*sys.argv[2:6]))
    elif sys.argv[1] == "openssl-speed":
        print(json.dumps(openssl_speed(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)))
    else:
        sys.exit(__doc__)
