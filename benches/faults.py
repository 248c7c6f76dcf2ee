#!/usr/bin/env python3
"""Reliability experiments of the depot (issue 22): faults injected while senders post.

Runs the release binary (`cargo build --release`; --depot to name another) on a fresh
PostgreSQL database and on RabbitMQ, with a TCP proxy of its own between the depot and each
of them (asyncio, in a child process) that can *cut* (close every connection and refuse new
ones: the listening socket is closed) and *restore*. Three experiments, in this order:

  kill   kill -9 of the depot while --senders (32) post, --kills times (3), each followed by
         a restart; senders retry with the same Idempotency-Key until they get a 201.
  mq     RabbitMQ cut for --mq-cut s (30) while sending, then restored.
  db     PostgreSQL cut for --db-cut s (10) while sending, then restored.

Senders (aiohttp, one session, --senders workers, closed loop) post 1 KiB sealed messages
(a JWE to one recipient, a system client's `enc` key) with application `faults`, metadata
{"experiment": NAME} and a fresh Idempotency-Key per message; a connection error, a 5xx or a
429 is retried with the same key and the same body after Retry-After (capped by
--retry-cap) or 0.2 s, until a 201 (or --settle s after the experiment's sending stopped:
the key is then "unfinished"). Any other answer is an unexpected error for that key.
A consumer (aio-pika, a child process, straight to RabbitMQ, not through the proxy) reads a
durable queue bound to the exchange `depot.events` with the routing key
`message.received.faults` (queues/src/topology.rs: topic exchange, one notification per
recipient with routing key message.received.<application>) and records each notification's
messageId and arrival time.

For each experiment it prints:
  201s received       keys answered 201 (and how many of those replayed the commit of an
                      earlier attempt whose answer was lost: receivedAt before the last try)
  messages stored     rows of `message` with this experiment's metadata (SELECT in the DB)
  notified            distinct message ids consumed from the queue (and notifications in all)
  duplicates          notifications beyond one per message (at-least-once delivery: allowed)
  lost                201s whose message is not stored, or never notified within --drain s
  stored without 201  messages stored that no 201 named (a retry that stored twice)
  during the fault    answers by status (503, 500, …, `conn` = connection error) and the
                      time until requests succeed / notifications catch up after it
Exits 1 if anything was lost (or stored twice, or a key never got its 201, or an answer
was unexpected, or the depot died by itself), 2 when the harness itself could not run.

  python3 benches/faults.py                  # all three, defaults: about 2-3 minutes
  python3 benches/faults.py --quick          # 1 kill, 8 s broker cut, 5 s database cut (~1 min)
  python3 benches/faults.py --only db --db-cut 20 --senders 8
  python3 benches/faults.py --keep-db --work /tmp/faults-run   # keep the database and the files

Needs: PostgreSQL on --pg (postgres://postgres@127.0.0.1:5432, trust: a fresh database
depot_faults_<time> per run, dropped at the end unless --keep-db), RabbitMQ on --amqp
(amqp://guest:guest@127.0.0.1:5672/%2f), `pip install aiohttp aio-pika jwcrypto`. Set-up
(admin bootstrap, organizations, system clients, enc key, sealing) is benches/depot_driver.py's.
"""
import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

APPLICATION = "faults"
ROUTING_KEY = f"message.received.{APPLICATION}"
EXCHANGE = "depot.events"              # queues/src/lib.rs EXCHANGE
DEAD_LETTER_EXCHANGE = "depot.events.dlx"  # queues/src/topology.rs: receiver queues' argument


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the fault proxy (child process)


class _Half(asyncio.Protocol):
    """One side of a proxied connection; what it reads is written to the other side."""

    def __init__(self, pair):
        self.pair, self.transport, self.peer, self.pending = pair, None, None, []

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        if self.peer is None or self.peer.transport is None:
            self.pending.append(data)
        else:
            self.peer.transport.write(data)

    def eof_received(self):
        if self.peer is not None and self.peer.transport is not None and self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
        return True

    def pause_writing(self):  # our buffer towards our end is full: stop reading the other end
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc):
        self.pair.close()


class _Pair:
    def __init__(self, route):
        self.route, self.down, self.up, self.closed = route, None, None, False

    def close(self, abort=False):
        if self.closed:
            return
        self.closed = True
        self.route.pairs.discard(self)
        for half in (self.down, self.up):
            if half is not None and half.transport is not None:
                half.transport.abort() if abort else half.transport.close()


class _Route:
    def __init__(self, name, listen_port, host, port):
        self.name, self.listen_port, self.host, self.port = name, listen_port, host, port
        self.server, self.pairs, self.accepted = None, set(), 0

    async def open(self):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._accept, "127.0.0.1", self.listen_port, reuse_address=True)

    def _accept(self):
        pair = _Pair(self)
        pair.down = _Half(pair)
        self.pairs.add(pair)
        self.accepted += 1
        asyncio.get_running_loop().create_task(self._connect_up(pair))
        return pair.down

    async def _connect_up(self, pair):
        loop = asyncio.get_running_loop()
        try:
            up = _Half(pair)
            await loop.create_connection(lambda: up, self.host, self.port)
        except OSError:
            pair.close(abort=True)
            return
        if pair.closed:
            up.transport.abort()
            return
        pair.up, up.peer, pair.down.peer = up, pair.down, up
        for data in pair.down.pending:
            up.transport.write(data)
        pair.down.pending.clear()
        for data in up.pending:
            pair.down.transport.write(data)
        up.pending.clear()

    def cut(self):
        """Stop listening (new connections are refused) and abort every live one."""
        if self.server is not None:
            self.server.close()
            self.server = None
        n = len(self.pairs)
        for pair in list(self.pairs):
            pair.close(abort=True)
        return n


async def proxy_main(routes):
    table = {}
    for spec in routes:  # NAME=LISTEN_PORT:HOST:PORT
        name, rest = spec.split("=", 1)
        lp, host, port = rest.split(":")
        table[name] = _Route(name, int(lp), host, int(port))
        await table[name].open()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            for r in table.values():
                r.cut()
            return
        cmd, name = line[0], line[1]
        route = table[name]
        if cmd == "cut":
            n = route.cut()
            print(f"ok cut {name} {n}", flush=True)
        elif cmd == "restore":
            if route.server is None:
                await route.open()
            print(f"ok restore {name}", flush=True)
        elif cmd == "stats":
            print(f"ok stats {name} {len(route.pairs)} {route.accepted}", flush=True)


class Proxy:
    """The proxy child process, driven over its stdin/stdout."""

    def __init__(self, routes):
        self.routes = routes

    async def start(self):
        args = [sys.executable, os.path.abspath(__file__), "_proxy"] + [
            f"{n}={lp}:{h}:{p}" for n, (lp, h, p) in self.routes.items()]
        self.proc = await asyncio.create_subprocess_exec(*args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = await asyncio.wait_for(self.proc.stdout.readline(), 10)
        if line.strip() != b"ready":
            raise RuntimeError(f"the proxy did not start: {line!r}")

    async def command(self, *words):
        self.proc.stdin.write((" ".join(words) + "\n").encode())
        await self.proc.stdin.drain()
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 10)).decode().split()
        if not line or line[0] != "ok":
            raise RuntimeError(f"proxy: {' '.join(words)} -> {line}")
        return line[3:]

    async def cut(self, name):
        return int((await self.command("cut", name))[0])

    async def restore(self, name):
        await self.command("restore", name)

    async def stop(self):
        if self.proc.returncode is None:
            try:
                self.proc.stdin.write(b"quit\n")
                await self.proc.stdin.drain()
                await asyncio.wait_for(self.proc.wait(), 5)
            except (OSError, asyncio.TimeoutError):
                self.proc.kill()
                await self.proc.wait()


# ---------------------------------------------------------------- the consumer (child process)


async def consume_main(a):
    import aio_pika

    connection = await aio_pika.connect(a.amqp)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=2000)
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(a.queue, durable=True,
                                        arguments={"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE})
    await queue.bind(exchange, routing_key=a.binding)
    out = open(a.out, "a", buffering=1 << 16)

    async def on_message(message):
        try:
            mid = json.loads(message.body)["messageId"]
        except (ValueError, KeyError, TypeError):
            mid = "?"
        out.write(f"{time.time():.6f} {mid} {message.message_id}\n")

    tag = await queue.consume(on_message, no_ack=True)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stdin = asyncio.ensure_future(reader.readline())
    while not stdin.done():
        await asyncio.wait([stdin], timeout=0.05)
        out.flush()
    out.flush()
    await queue.cancel(tag)
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()


class Notifications:
    """What the consumer recorded: first arrival time and count per message id."""

    def __init__(self, path):
        self.path, self.offset, self.first, self.count, self.total = path, 0, {}, collections.Counter(), 0

    def refresh(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].decode().splitlines():
            t, mid, _ = line.split(" ", 2)
            t = float(t)
            self.total += 1
            self.count[mid] += 1
            if mid not in self.first:
                self.first[mid] = t


# ---------------------------------------------------------------- the depot process


class Depot:
    def __init__(self, binary, env, log_path, base):
        self.binary, self.env, self.log_path, self.base = binary, env, log_path, base
        self.proc, self.starts, self.unexpected_exit = None, 0, None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.log.write(f"==== start {self.starts + 1} at {time.strftime('%H:%M:%S')}\n".encode())
        self.log.flush()
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.starts += 1

    async def wait_live(self, session, timeout=60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the depot exited with {self.proc.returncode} at start; see {self.log_path}")
            try:
                async with session.get(f"{self.base}/health/live") as r:
                    if r.status == 200:
                        return time.time()
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the depot did not answer /health/live within {timeout} s; see {self.log_path}")

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None and self.unexpected_exit is None:
            self.unexpected_exit = self.proc.returncode
        return self.unexpected_exit is None

    def kill9(self):
        self.check_alive()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- PostgreSQL (psql, straight, not proxied)


def psql(url, sql):
    r = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"psql {sql!r}: {r.stderr.strip()}")
    return r.stdout


# ---------------------------------------------------------------- senders


class Key:
    __slots__ = ("key", "started", "attempts", "last_try", "id", "t201", "received_at", "error", "unfinished")

    def __init__(self, key):
        self.key, self.started, self.attempts, self.last_try = key, time.time(), 0, 0.0
        self.id = self.t201 = self.received_at = self.error = None
        self.unfinished = False


class Experiment:
    def __init__(self, name, title):
        self.name, self.title = name, title
        self.keys = []
        self.answers = []          # (t_start, t_end, status) of every attempt; status "conn" = connection error
        self.retry_after = collections.Counter()
        self.stop_new = False
        self.give_up_at = float("inf")
        self.inflight = 0
        self.marks = {}
        self.notes = []
        self.failures = []


def parse_time(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def sender(exp, session, url, body, headers, cfg):
    import aiohttp

    while not exp.stop_new:
        k = Key(uuid.uuid4().hex)
        exp.keys.append(k)
        h = {**headers, "idempotency-key": k.key}
        while True:
            k.attempts += 1
            k.last_try = t0 = time.time()
            exp.inflight += 1
            retry_after = None
            try:
                async with session.post(url, data=body, headers=h) as r:
                    raw = await r.read()
                    status = r.status
                    retry_after = r.headers.get("retry-after")
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                status, raw = "conn", str(e).encode()
            finally:
                exp.inflight -= 1
            t1 = time.time()
            exp.answers.append((t0, t1, status))
            if status == 201:
                answer = json.loads(raw)
                k.id, k.t201, k.received_at = answer["id"], t1, parse_time(answer["receivedAt"])
                break
            if status == "conn" or status >= 500 or status == 429:
                if time.time() >= exp.give_up_at:
                    k.unfinished = True
                    break
                if retry_after is not None:
                    exp.retry_after[retry_after] += 1
                try:
                    delay = min(float(retry_after), cfg.retry_cap) if retry_after else 0.2
                except ValueError:
                    delay = 0.2
                await asyncio.sleep(delay)
                continue
            k.error = f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"
            break


async def run_senders(exp, cfg, ctx, scenario):
    """Senders run while `scenario()` injects its fault; then no new keys, and the keys in
    progress get until --settle s to be answered 201."""
    body = json.dumps({"application": APPLICATION, "recipients": [ctx["recipient"]],
                       "sealed": ctx["sealed"], "metadata": {"experiment": exp.name}},
                      separators=(",", ":")).encode()
    headers = {"authorization": f"Bearer {ctx['token']}", "content-type": "application/json"}
    url = f"{ctx['base']}/depot/messages"
    exp.marks["start"] = time.time()
    tasks = [asyncio.ensure_future(sender(exp, ctx["session"], url, body, headers, cfg)) for _ in range(cfg.senders)]
    try:
        await scenario()
    finally:
        exp.stop_new = True
        exp.marks["stop"] = time.time()
        exp.give_up_at = time.time() + cfg.settle
        await asyncio.gather(*tasks)
    exp.marks["senders_done"] = time.time()


# ---------------------------------------------------------------- the experiments


async def exp_kill(cfg, ctx):
    exp = Experiment("kill", f"1. kill -9 of the depot at {cfg.senders} concurrent senders, "
                             f"{cfg.kills} time(s), restarted after {cfg.down:g} s")
    depot, session = ctx["depot"], ctx["session"]
    exp.kills = []

    async def scenario():
        await asyncio.sleep(cfg.before)
        for i in range(cfg.kills):
            if i:
                await asyncio.sleep(cfg.between)
            inflight = exp.inflight
            t_kill = time.time()
            depot.kill9()
            log(f"kill: depot killed (-9) with {inflight} requests in flight")
            await asyncio.sleep(cfg.down)
            t_start = time.time()
            depot.start()
            t_live = await depot.wait_live(session)
            log(f"kill: depot restarted, answering after {t_live - t_start:.2f} s")
            exp.kills.append({"t_kill": t_kill, "t_start": t_start, "t_live": t_live, "inflight": inflight})
        await asyncio.sleep(cfg.after)

    await run_senders(exp, cfg, ctx, scenario)
    for i, kill in enumerate(exp.kills):
        nxt = exp.kills[i + 1]["t_kill"] if i + 1 < len(exp.kills) else float("inf")
        firsts = [t1 for (_, t1, s) in exp.answers if s == 201 and kill["t_start"] <= t1 < nxt]
        kill["first_201"] = min(firsts) if firsts else None
    exp.fault_windows = [(k["t_kill"], k["first_201"] or k["t_live"]) for k in exp.kills]
    return exp


async def exp_mq(cfg, ctx):
    exp = Experiment("mq", f"2. RabbitMQ cut for {cfg.mq_cut:g} s while {cfg.senders} senders post, then restored")
    proxy, session, base = ctx["proxy"], ctx["session"], ctx["base"]
    relay_log = []  # (t, connected, outboxPending)
    polling = [True]

    async def poll_ready():
        while polling[0]:
            t = time.time()
            try:
                async with session.get(f"{base}/health/ready") as r:
                    j = await r.json(content_type=None)
                    relay_log.append((t, j.get("broker", {}).get("relay") == "connected", j.get("outboxPending")))
            except Exception:  # noqa: BLE001 - recorded as unknown
                relay_log.append((t, None, None))
            await asyncio.sleep(0.25)

    scenario = cut_scenario(exp, cfg, proxy, "mq", "broker", cfg.mq_cut)

    poller = asyncio.ensure_future(poll_ready())
    try:
        await run_senders(exp, cfg, ctx, scenario)
        # keep polling a little so that the relay's state after the restore is seen
    finally:
        polling[0] = False
        await poller
    exp.relay_log = relay_log
    exp.fault_windows = [(exp.marks["cut"], exp.marks["restore"])]
    return exp


def cut_scenario(exp, cfg, proxy, upstream, what, seconds):
    """Sending for cfg.before s, `upstream` cut for `seconds`, restored, cfg.after s more."""
    tag = exp.name

    async def scenario():
        await asyncio.sleep(cfg.before)
        exp.marks["cut"] = time.time()
        n = await proxy.cut(upstream)
        log(f"{tag}: {what} cut ({n} connections closed, new ones refused) for {seconds:g} s")
        await asyncio.sleep(seconds)
        exp.marks["restore"] = time.time()
        await proxy.restore(upstream)
        log(f"{tag}: {what} restored")
        await asyncio.sleep(cfg.after)

    return scenario


async def exp_db(cfg, ctx):
    exp = Experiment("db", f"3. PostgreSQL cut for {cfg.db_cut:g} s while {cfg.senders} senders post, then restored")
    proxy = ctx["proxy"]

    scenario = cut_scenario(exp, cfg, proxy, "pg", "database", cfg.db_cut)

    await run_senders(exp, cfg, ctx, scenario)
    exp.fault_windows = [(exp.marks["cut"], exp.marks["restore"])]
    return exp


# ---------------------------------------------------------------- figures


def statuses_in(exp, windows):
    c = collections.Counter()
    for (_, t1, s) in exp.answers:
        if any(a <= t1 <= b for a, b in windows):
            c[str(s)] += 1
    return c


def fmt_counter(c):
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


async def settle_and_report(exp, cfg, ctx):
    notes = ctx["notes"]
    acked = [k for k in exp.keys if k.id is not None]
    ids = {k.id for k in acked}
    # Wait for the notifications of every 201 (the relay polls every 500 ms, and a backlog drains).
    t0 = time.time()
    while True:
        notes.refresh()
        missing = [i for i in ids if i not in notes.first]
        if not missing or time.time() - t0 > cfg.drain:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # late duplicates
    notes.refresh()
    rows = psql(ctx["db_url"], f"SELECT id FROM message WHERE metadata->>'experiment' = '{exp.name}'").split()
    stored = set(rows)
    pending = int(psql(ctx["db_url"], "SELECT count(*) FROM outbox WHERE sent_at IS NULL").strip())

    notified = {i for i in stored | ids if i in notes.first}
    notifications = sum(notes.count[i] for i in notified)
    duplicates = sum(notes.count[i] - 1 for i in notified)
    not_stored = [i for i in ids if i not in stored]
    not_notified = [i for i in ids if i not in notes.first]
    lost = set(not_stored) | set(not_notified)
    extra = stored - ids
    unfinished = [k for k in exp.keys if k.unfinished]
    errors = [k for k in exp.keys if k.error]
    replayed = sum(1 for k in acked if k.attempts > 1 and k.received_at < k.last_try - 0.002)
    retried = sum(1 for k in acked if k.attempts > 1)
    stored_rows_dupe = len(rows) - len(stored)

    during = statuses_in(exp, exp.fault_windows)
    overall = collections.Counter(str(s) for (_, _, s) in exp.answers)
    sending = exp.marks["stop"] - exp.marks["start"]

    out = []
    p = out.append
    p(f"== {exp.title}")
    p(f"  sending             {sending:.1f} s, {len(exp.keys)} keys ({len(exp.answers)} requests, "
      f"{len(acked) / sending:.0f} messages/s); all answers: {fmt_counter(overall)}")
    p(f"  201s received       {len(acked)}  ({retried} after a retry; {replayed} of them replayed the commit of an "
      f"earlier attempt whose answer was lost)")
    p(f"  messages stored     {len(stored)}")
    p(f"  notified            {len(notified & ids)} distinct message ids ({notifications} notifications)")
    p(f"  duplicates          {duplicates}")
    p(f"  lost                {len(lost)}  (201 but not stored: {len(not_stored)}; 201 but never notified "
      f"within {cfg.drain:g} s: {len(not_notified)})")
    p(f"  stored without 201  {len(extra)}" + (f"  (duplicate ids: {stored_rows_dupe})" if stored_rows_dupe else ""))
    p(f"  unfinished keys     {len(unfinished)}  (no 201 within {cfg.settle:g} s after sending stopped)")
    if errors:
        kinds = collections.Counter(k.error.split(":")[0] for k in errors)
        p(f"  unexpected answers  {len(errors)} keys: {fmt_counter(kinds)}; first: {errors[0].error}")
    p(f"  during the fault    503: {during.get('503', 0)}, 500: {during.get('500', 0)}, connection errors: "
      f"{during.get('conn', 0)}, 201: {during.get('201', 0)}  (all statuses: {fmt_counter(during)})")
    if exp.retry_after:
        p(f"  Retry-After seen    {fmt_counter(exp.retry_after)} (senders waited min(Retry-After, {cfg.retry_cap:g} s))")

    if exp.name == "kill":
        for i, k in enumerate(exp.kills, 1):
            first = f"{k['first_201'] - k['t_start']:.2f} s" if k["first_201"] else "never"
            down = f"{k['first_201'] - k['t_kill']:.2f} s" if k["first_201"] else "-"
            p(f"  kill {i}              {k['inflight']} requests in flight; restarted {k['t_start'] - k['t_kill']:.2f} s "
              f"after the kill, answering after {k['t_live'] - k['t_start']:.2f} s; first 201 {first} after the "
              f"restart ({down} after the kill)")
    if exp.name == "mq":
        cut, restore = exp.marks["cut"], exp.marks["restore"]
        during_cut = sum(1 for i, t in notes.first.items() if cut + 1 < t < restore and i in ids)
        backlog = [k.id for k in acked if k.t201 <= restore]
        late = [notes.first[i] for i in backlog if i in notes.first and notes.first[i] > restore]
        missing_backlog = [i for i in backlog if i not in notes.first]
        after = [t for t in notes.first.values() if t > restore]
        p(f"  201s during the cut {sum(1 for k in acked if cut <= k.t201 <= restore)} (the depot keeps accepting; "
          f"notifications wait in the outbox)")
        p(f"  notified in the cut {during_cut} (first notifications later than 1 s after the cut)")
        p(f"  relay back          first notification {fmt_delay(min(after) - restore if after else None)} after the "
          f"restore; /health/ready relay connected {fmt_delay(first_connected(exp.relay_log, restore))} after it")
        if missing_backlog:
            p(f"  caught up           NEVER: {len(missing_backlog)} messages accepted before the restore were never "
              f"notified")
        else:
            p(f"  caught up           {fmt_delay(max(late) - restore if late else 0.0)} after the restore: every "
              f"message accepted before it ({len(backlog)}, {len(late)} of them held back by the cut) was notified")
        peak = max((x[2] for x in exp.relay_log if x[2] is not None), default=None)
        p(f"  outbox backlog peak {peak} rows (outboxPending of /health/ready)")
    if exp.name == "db":
        restore = exp.marks["restore"]
        firsts = [t1 for (_, t1, s) in exp.answers if s == 201 and t1 >= restore]
        fresh = [t1 for (t0, t1, s) in exp.answers if s == 201 and t0 >= restore]
        p(f"  requests succeed    first 201 {fmt_delay(min(firsts) - restore if firsts else None)} after the "
          f"restore ({fmt_delay(min(fresh) - restore if fresh else None)} for a request sent after it)")
        took = collections.defaultdict(list)
        for (t0, t1, s) in exp.answers:
            if exp.marks["cut"] <= t1 <= restore:
                took[str(s)].append(t1 - t0)
        if took:
            parts = []
            for s, xs in sorted(took.items(), key=lambda kv: -len(kv[1])):
                xs.sort()
                parts.append(f"{s}: median {xs[len(xs) // 2] * 1000:.0f} ms, max {xs[-1] * 1000:.0f} ms")
            p(f"  answer time in cut  {'; '.join(parts)}")
    p(f"  outbox at the end   {pending} rows unsent")
    print("\n".join(out), flush=True)

    failed = []
    if lost:
        failed.append(f"{len(lost)} lost (e.g. {sorted(lost)[:3]})")
    if extra or stored_rows_dupe:
        failed.append(f"{len(extra)} messages stored without a 201")
    if unfinished:
        failed.append(f"{len(unfinished)} keys never answered 201")
    if errors:
        failed.append(f"{len(errors)} unexpected answers")
    return {"experiment": exp.name, "failed": failed, "lost": len(lost), "acked": len(acked), "stored": len(stored),
            "notified": len(notified & ids), "duplicates": duplicates, "lines": out}


def fmt_delay(x):
    return "never" if x is None else f"{x:.2f} s"


def first_connected(relay_log, after):
    for t, connected, _ in relay_log:
        if t >= after and connected:
            return t - after
    return None


# ---------------------------------------------------------------- set-up and main


async def main_async(cfg):
    import aiohttp

    import depot_driver as dd
    from bench_client import keygen

    work = cfg.work or tempfile.mkdtemp(prefix="depot-faults.")
    os.makedirs(work, exist_ok=True)
    binary = os.path.abspath(cfg.depot)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no depot binary at {binary}: cargo build --release (or --depot PATH)")
    port = cfg.port or free_port()
    base = f"http://127.0.0.1:{port}"
    db = f"depot_faults_{time.strftime('%Y%m%d_%H%M%S')}"
    pg = cfg.pg.rstrip("/")
    pg_host, pg_port = pg.rsplit("@", 1)[-1].split("/")[0].split(":")
    mq_host, mq_port = cfg.amqp.rsplit("@", 1)[-1].split("/")[0].split(":")
    pg_proxy, mq_proxy = free_port(), free_port()
    amqp_user = cfg.amqp.split("://", 1)[1].rsplit("@", 1)[0]
    vhost = cfg.amqp.split("/", 3)[3] if cfg.amqp.count("/") >= 3 else "%2f"
    log(f"depot {binary} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(binary)))}); "
        f"git {git_describe()}; work {work}")
    log(f"database {db} on {pg} (through the proxy on :{pg_proxy}); broker {mq_host}:{mq_port} "
        f"(through the proxy on :{mq_proxy}); depot on {base}")
    psql(f"{pg}/postgres", f"CREATE DATABASE {db}")
    db_url = f"{pg}/{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPOT_") and k not in ("DATABASE_URL", "AMQP_URL")}
    env.update({
        "DATABASE_URL": f"postgres://{pg.split('://', 1)[1].rsplit('@', 1)[0]}@127.0.0.1:{pg_proxy}/{db}?sslmode=disable",
        "AMQP_URL": f"amqp://{amqp_user}@127.0.0.1:{mq_proxy}/{vhost}",
        "DEPOT_DATA_DIR": f"{work}/data", "DEPOT_LISTEN": f"127.0.0.1:{port}", "DEPOT_PUBLIC_URL": base,
        "DEPOT_LOG": cfg.log_level, "DEPOT_ACCESS_TOKEN_TTL_SECONDS": "3600",
        "DEPOT_BOX_QUOTA_BYTES": str(1 << 50),
    })
    for kv in cfg.env:
        k, v = kv.split("=", 1)
        env[k] = v
    os.makedirs(f"{work}/data", mode=0o700, exist_ok=True)
    proxy = Proxy({"pg": (pg_proxy, pg_host, int(pg_port)), "mq": (mq_proxy, mq_host, int(mq_port))})
    await proxy.start()
    queue = f"faults.{uuid.uuid4().hex[:8]}"
    notes_path = f"{work}/notifications.txt"
    open(notes_path, "w").close()
    consumer = await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), "_consume", "--amqp", cfg.amqp, "--queue", queue,
        "--binding", ROUTING_KEY, "--out", notes_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = await asyncio.wait_for(consumer.stdout.readline(), 30)
    if line.strip() != b"ready":
        raise RuntimeError(f"the consumer did not start: {line!r}")
    log(f"consumer: queue {queue} bound to {EXCHANGE} with {ROUTING_KEY}")

    depot = Depot(binary, env, f"{work}/depot.log", base)
    results = []
    connector = aiohttp.TCPConnector(limit=cfg.senders + 8)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=cfg.request_timeout))
    try:
        keygen(work, dd.ADMIN)
        r = subprocess.run([binary, "admin", "bootstrap", "--client-id", dd.ADMIN, "--jwks",
                            f"{work}/{dd.ADMIN}.jwks.json"], env=env, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"depot admin bootstrap: {r.stderr}")
        depot.start()
        await depot.wait_live(session)
        await asyncio.to_thread(dd.cmd_setup, argparse.Namespace(base=base, work=work))
        setup = dd.load_setup(work)
        rcpt = setup["recipients"][0]
        sealed = json.loads(dd.seal_text(os.urandom(cfg.payload), [rcpt]))
        tok, _, _ = await asyncio.to_thread(dd.token, base, dd.SENDER, f"{work}/{dd.SENDER}.pem", "depot:send")
        ctx = {"base": base, "session": session, "depot": depot, "proxy": proxy, "token": tok,
               "recipient": {"type": "cbe", "value": rcpt["cbe"]}, "sealed": sealed, "db_url": db_url,
               "notes": Notifications(notes_path)}
        # one message through the whole path before any fault
        t0 = time.time()
        async with session.post(f"{base}/depot/messages", headers={"authorization": f"Bearer {tok}",
                                "content-type": "application/json", "idempotency-key": uuid.uuid4().hex},
                                data=json.dumps({"application": APPLICATION, "recipients": [ctx["recipient"]],
                                                 "sealed": sealed, "metadata": {"experiment": "preflight"}})) as r:
            raw = await r.read()
            if r.status != 201:
                raise RuntimeError(f"preflight POST: HTTP {r.status}: {raw[:500]!r}")
            mid = json.loads(raw)["id"]
        while mid not in ctx["notes"].first:
            ctx["notes"].refresh()
            if time.time() - t0 > 30:
                raise RuntimeError("preflight: the message's notification did not arrive within 30 s")
            await asyncio.sleep(0.1)
        log(f"preflight: 201 and its notification in {time.time() - t0:.2f} s; experiments: {', '.join(cfg.only)}")
        for name in cfg.only:
            exp = await {"kill": exp_kill, "mq": exp_mq, "db": exp_db}[name](cfg, ctx)
            if not depot.check_alive():
                exp.failures.append(f"the depot exited by itself with {depot.unexpected_exit}")
            res = await settle_and_report(exp, cfg, ctx)
            if not depot.check_alive() and depot.unexpected_exit is not None:
                res["failed"].append(f"the depot exited by itself with status {depot.unexpected_exit}; "
                                     f"see {depot.log_path}")
                print(f"  DEPOT DIED          exit status {depot.unexpected_exit}", flush=True)
            results.append(res)
            if depot.unexpected_exit is not None:
                break
    finally:
        await session.close()
        depot.stop()
        try:
            consumer.stdin.write(b"quit\n")
            await consumer.stdin.drain()
            await asyncio.wait_for(consumer.wait(), 10)
        except (OSError, asyncio.TimeoutError):
            consumer.kill()
        await proxy.stop()
        if cfg.keep_db:
            log(f"kept database {db} and {work}")
        else:
            try:
                psql(f"{pg}/postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            except RuntimeError as e:
                log(f"could not drop {db}: {e}")
            if not cfg.work:
                shutil.rmtree(work, ignore_errors=True)
    print()
    print("== summary")
    bad = False
    for r in results:
        verdict = "OK" if not r["failed"] else "FAILED: " + "; ".join(r["failed"])
        bad |= bool(r["failed"])
        print(f"  {r['experiment']:<5} 201s {r['acked']}, stored {r['stored']}, notified {r['notified']}, "
              f"duplicates {r['duplicates']}, lost {r['lost']}: {verdict}")
    return 1 if bad else 0


def git_describe():
    try:
        return subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True,
                              text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_proxy":
        asyncio.run(proxy_main(sys.argv[2:]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_consume":
        sp = argparse.ArgumentParser()
        sp.add_argument("cmd")
        for o in ("--amqp", "--queue", "--binding", "--out"):
            sp.add_argument(o, required=True)
        asyncio.run(consume_main(sp.parse_args()))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depot", default=f"{REPO}/target/release/depot", help="the depot binary (release build)")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server (a database per run)")
    p.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/%2f")
    p.add_argument("--port", type=int, default=0, help="the depot's port (0: a free one)")
    p.add_argument("--only", default="kill,mq,db", help="experiments to run, in order: kill,mq,db")
    p.add_argument("--senders", type=int, default=32, help="concurrent senders")
    p.add_argument("--kills", type=int, default=3, help="kill -9 + restart cycles in the kill experiment")
    p.add_argument("--down", type=float, default=1.0, help="seconds the killed depot stays down")
    p.add_argument("--between", type=float, default=6.0, help="seconds of sending between two kills")
    p.add_argument("--mq-cut", type=float, default=30.0, help="seconds the broker stays cut")
    p.add_argument("--db-cut", type=float, default=10.0, help="seconds the database stays cut")
    p.add_argument("--before", type=float, default=5.0, help="seconds of sending before each fault")
    p.add_argument("--after", type=float, default=10.0, help="seconds of sending after each fault")
    p.add_argument("--settle", type=float, default=60.0,
                   help="seconds a key still in progress may keep retrying once sending stopped")
    p.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last notifications")
    p.add_argument("--retry-cap", type=float, default=1.0, help="longest wait before a retry (Retry-After is capped)")
    p.add_argument("--request-timeout", type=float, default=30.0)
    p.add_argument("--payload", type=int, default=700, help="plaintext bytes (700: a ~1.3 KiB sealed JWE)")
    p.add_argument("--env", action="append", default=[], metavar="DEPOT_X=V", help="extra depot setting")
    p.add_argument("--log-level", default="warn,queues=info", help="DEPOT_LOG of the depot")
    p.add_argument("--work", help="directory for keys, the depot's data and log, notifications (kept)")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="short settings: 1 kill, 8 s broker cut, 5 s database cut, 3 s before and 5 s after")
    if "--quick" in sys.argv[1:]:  # the short settings are defaults: options given still win
        p.set_defaults(kills=1, mq_cut=8.0, db_cut=5.0, before=3.0, after=5.0, between=3.0)
    cfg = p.parse_args()
    cfg.only = [x for x in cfg.only.split(",") if x]
    for x in cfg.only:
        if x not in ("kill", "mq", "db"):
            p.error(f"unknown experiment {x!r}")
    try:
        import aio_pika  # noqa: F401
        import aiohttp  # noqa: F401
        import jwcrypto  # noqa: F401
    except ImportError as e:
        sys.exit(f"{e}: pip install aiohttp aio-pika jwcrypto")
    try:
        code = asyncio.run(main_async(cfg))
    except RuntimeError as e:
        print(f"faults.py: {e}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
