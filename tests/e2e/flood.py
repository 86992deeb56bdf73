#!/usr/bin/env python3
"""flood.py: the abusive clients of tests/e2e/test_abuse.sh.

Every run is bounded in count (at most 5,000 connections, 10,000 opens)
and in time (at most 120 s), talks only to loopback, and prints one JSON
object with what it saw on stdout. One event loop (selectors, non-blocking
sockets) drives all connections of a run.

  hold      open --count connections (plain or --tls) from --sources and
            keep them busy with --behaviour for --duration seconds:
              idle           connect (and finish the TLS handshake), then
                             send nothing
              trickle        send a request header one byte every
                             --interval seconds, never finishing it
                             (slowloris; after the handshake with --tls)
              trickle-hello  send a real TLS ClientHello one byte every
                             --interval seconds (raw TCP)
            --reopen replaces every connection the server closes, so the
            pressure stays up; --ready FILE gets the number of connections
            in each state once every first connection is open or closed, or
            --settle seconds after the last was opened (connections the
            server does not accept stay "connecting" or "handshake");
            --release FILE ends the hold early when it appears;
            --final-request then sends a complete GET on every connection
            still open.
  junk      --count connections of each kind of broken TLS client:
            garbage bytes, plain HTTP, half a ClientHello then close, half
            a ClientHello then silence; waits (<= --duration s) for the
            server to close each.
  oversize  --count requests of one --kind, up to 10 at a time: a request
            line (url), one header (header) or many headers (headers) of
            --size bytes, a body announced as 1 GB (body), or a chunked
            body that trickles in 1 KiB every 0.5 s (chunked). Records the
            status line the server answered (if any), whether it closed
            the connection, how much it took and how long that lasted.
"""

import argparse
import errno
import ipaddress
import json
import os
import random
import resource
import selectors
import socket
import ssl
import statistics
import sys
import time

MAX_CONNS = 5000
MAX_OPENS = 10000
MAX_SECONDS = 120
WINDOW = 200
POLICY_PATH = "/.well-known/mta-sts.txt"


def parse_sources(spec):
    """'127.0.0.2-127.0.0.21' or '127.0.0.5' -> list of loopback addresses."""
    first, _, last = spec.partition("-")
    lo = ipaddress.IPv4Address(first)
    hi = ipaddress.IPv4Address(last or first)
    if not (lo.is_loopback and hi.is_loopback and lo <= hi):
        sys.exit("flood.py: --sources must be a loopback range")
    return [str(ipaddress.IPv4Address(a)) for a in range(int(lo), int(hi) + 1)]


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 64
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def client_hello(sni):
    """The bytes of a real TLS ClientHello for sni, from an in-memory TLS
    client that never talks to anyone."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def stats(values):
    if not values:
        return None
    return {"n": len(values), "min": round(min(values), 3),
            "median": round(statistics.median(values), 3),
            "max": round(max(values), 3)}


class Conn:
    """One client connection and what happened to it."""

    def __init__(self, src, behaviour):
        self.src = src
        self.behaviour = behaviour
        self.sock = None
        self.state = "connecting"  # -> handshake -> active -> closed
        self.t_open = time.monotonic()
        self.t_close = None
        self.how = None  # refused, handshake-failed, closed-by-server, ...
        self.payload = b""
        self.pos = 0
        self.next_send = 0.0
        self.got = b""


class Hold:
    """The event loop of the hold mode."""

    def __init__(self, a):
        self.a = a
        self.sel = selectors.DefaultSelector()
        self.sources = parse_sources(a.sources)
        self.conns = []
        self.opens = 0
        self.peak_active = 0  # most connections open (TLS: handshaken)
        self.ctx = None
        if a.tls:
            self.ctx = ssl.create_default_context(cafile=a.ca)
            if not a.final_request:
                # An abuser does not care who answers: skipping the
                # verification saves the client CPU for more connections.
                self.ctx.check_hostname = False
                self.ctx.verify_mode = ssl.CERT_NONE
        if a.behaviour == "trickle-hello":
            self.payload = client_hello(a.sni)
        else:
            # A request header that never ends: the blank line never comes.
            self.payload = ("GET %s HTTP/1.1\r\nHost: %s\r\nX-Pad: " %
                            (POLICY_PATH, a.sni)).encode() + b"a" * 4096

    def open(self):
        src = self.sources[self.opens % len(self.sources)]
        self.opens += 1
        c = Conn(src, self.a.behaviour)
        self.conns.append(c)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            rc = s.connect_ex((self.a.host, self.a.port))
        except OSError as e:
            s.close()
            self.close(c, "connect-error:" + errno.errorcode.get(e.errno, "?"))
            return
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.close(c, "connect-error:" + errno.errorcode.get(rc, "?"))
            return
        c.sock = s
        self.sel.register(s, selectors.EVENT_WRITE, c)

    def close(self, c, how):
        if c.state == "closed":
            return
        c.state = "closed"
        c.how = how
        c.t_close = time.monotonic()
        if c.sock is not None:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()

    def watch(self, c, events):
        self.sel.modify(c.sock, events, c)

    def connected(self, c):
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            self.close(c, "connect-error:" + errno.errorcode.get(err, "?"))
            return
        if self.ctx is not None and c.behaviour != "trickle-hello":
            self.sel.unregister(c.sock)
            c.sock = self.ctx.wrap_socket(c.sock, server_hostname=self.a.sni,
                                          do_handshake_on_connect=False)
            self.sel.register(c.sock, selectors.EVENT_READ, c)
            c.state = "handshake"
            self.handshake(c)
        else:
            self.activate(c)

    def handshake(self, c):
        try:
            c.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.watch(c, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self.watch(c, selectors.EVENT_WRITE)
            return
        except (ssl.SSLError, OSError):
            self.close(c, "handshake-failed")
            return
        self.activate(c)

    def activate(self, c):
        c.state = "active"
        c.payload = self.payload
        c.next_send = time.monotonic()
        self.watch(c, selectors.EVENT_READ)

    def readable(self, c):
        """The server sent something: data, a TLS ticket, or the end."""
        try:
            data = c.sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                BlockingIOError):
            return
        except (ssl.SSLError, OSError):
            self.close(c, "closed-by-server")
            return
        if not data:
            self.close(c, "closed-by-server")
            return
        c.got = (c.got + data)[:4096]

    def trickle(self, c, now):
        if c.behaviour == "idle" or now < c.next_send:
            return
        if c.pos >= len(c.payload):
            return
        try:
            n = c.sock.send(c.payload[c.pos:c.pos + 1])
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                BlockingIOError):
            return
        except (ssl.SSLError, OSError):
            self.close(c, "closed-by-server")
            return
        c.pos += n
        c.next_send = now + self.a.interval

    def run(self):
        a = self.a
        t0 = time.monotonic()
        end = t0 + a.duration
        ready_written = False
        t_all = None
        # Open the first connections over --ramp seconds, then keep going.
        while True:
            now = time.monotonic()
            if now >= end or (a.release and os.path.exists(a.release)):
                break
            due = a.count if a.ramp <= 0 else min(
                a.count, int(a.count * (now - t0) / a.ramp) + 1)
            # At most WINDOW connections at a time still connecting or
            # handshaking: on a busy machine the opening slows down to
            # what this client can finish, instead of leaving handshakes
            # half done until the server gives up on them.
            pending = sum(1 for c in self.conns
                          if c.state in ("connecting", "handshake"))
            while self.opens < due and pending < WINDOW:
                self.open()
                pending += 1
            live = [c for c in self.conns if c.state != "closed"]
            if not live and self.opens >= a.count and not a.reopen:
                break  # nothing left to hold
            self.peak_active = max(self.peak_active, sum(
                1 for c in live if c.state == "active"))
            if a.reopen and self.opens >= a.count:
                for _ in range(a.count - len(live)):
                    if self.opens >= MAX_OPENS or now > end - 1:
                        break
                    self.open()
            if a.ready and not ready_written and self.opens >= a.count:
                if t_all is None:
                    t_all = now
                first = self.conns[:a.count]
                if (now >= t_all + a.settle or
                        all(c.state in ("active", "closed") for c in first)):
                    self.write_states(a.ready)
                    ready_written = True
            # A bounded batch per round (the selector is level-triggered,
            # so the rest come back next round): a burst of handshakes
            # must not hold up the trickling bytes.
            for key, _ in self.sel.select(timeout=0.05)[:64]:
                c = key.data
                if c.state == "connecting":
                    self.connected(c)
                elif c.state == "handshake":
                    self.handshake(c)
                elif c.state == "active":
                    self.readable(c)
            now = time.monotonic()
            for c in live:
                if c.state == "active":
                    self.trickle(c, now)
        return self.report(t0)

    def write_states(self, path):
        states = {}
        for c in self.conns:
            states[c.state] = states.get(c.state, 0) + 1
        with open(path + ".tmp", "w") as f:
            json.dump(states, f, sort_keys=True)
        os.rename(path + ".tmp", path)

    def final_requests(self):
        """A complete GET on every connection still open: a slot that the
        server kept must still work."""
        ok = {}
        for c in self.conns:
            if c.state != "active":
                continue
            status = ""
            try:
                self.sel.unregister(c.sock)
                c.sock.setblocking(True)
                c.sock.settimeout(5)
                c.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n"
                                "Connection: close\r\n\r\n" %
                                (POLICY_PATH, self.a.sni)).encode())
                data = b""
                while b"\r\n" not in data and len(data) < 4096:
                    chunk = c.sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                status = data.split(b"\r\n", 1)[0].decode("latin-1")
            except (ssl.SSLError, OSError) as e:
                status = "error: %s" % e
            c.state = "closed"
            c.how = "final"
            c.t_close = time.monotonic()
            c.sock.close()
            ok[status] = ok.get(status, 0) + 1
        return ok

    def report(self, t0):
        now = time.monotonic()
        out = {"opens": self.opens, "how": {}, "per_source": {},
               "peak_active": self.peak_active}
        lifetimes, refused = [], []
        for c in self.conns:
            src = out["per_source"].setdefault(c.src, {"opens": 0,
                                                       "open_at_end": 0})
            src["opens"] += 1
            if c.state == "closed":
                out["how"][c.how] = out["how"].get(c.how, 0) + 1
                if c.how == "closed-by-server":
                    lifetimes.append(c.t_close - c.t_open)
                elif c.how == "handshake-failed":
                    refused.append(c.t_close - c.t_open)
            else:
                src["open_at_end"] += 1
        out["open_at_end"] = sum(s["open_at_end"]
                                 for s in out["per_source"].values())
        out["server_closed_lifetime"] = stats(lifetimes)
        out["handshake_failed_lifetime"] = stats(refused)
        # Connections that lived at least a second before the server closed
        # them (the refused ones die at once).
        out["server_closed_after_1s"] = stats([t for t in lifetimes
                                               if t >= 1.0])
        out["answered"] = sum(1 for c in self.conns if c.got.startswith(
            b"HTTP/"))
        if self.a.final_request:
            out["final"] = self.final_requests()
        out["seconds"] = round(now - t0, 2)
        return out


# ---- junk -------------------------------------------------------------------

def junk(a):
    """Broken TLS clients; each waits for the server to close on it."""
    hello = client_hello(a.sni)
    rnd = random.Random(8461)
    kinds = {
        "garbage": lambda: bytes(rnd.randrange(256) for _ in range(517)),
        "plain-http": lambda: ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" %
                               (POLICY_PATH, a.sni)).encode(),
        "half-hello-close": lambda: hello[:len(hello) // 2],
        "half-hello-stall": lambda: hello[:len(hello) // 2],
    }
    sources = parse_sources(a.sources)
    sel = selectors.DefaultSelector()
    conns = []
    for kind, make in kinds.items():
        for i in range(a.count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((sources[len(conns) % len(sources)], 0))
            s.settimeout(5)
            t = time.monotonic()
            s.connect((a.host, a.port))
            s.sendall(make())
            rec = {"kind": kind, "t": t, "closed": None, "got": 0}
            conns.append(rec)
            if kind == "half-hello-close":
                s.close()
                rec["closed"] = 0.0
                continue
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, rec)
    end = time.monotonic() + a.duration
    while sel.get_map() and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            rec = key.data
            try:
                data = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            rec["got"] += len(data)
            if not data:
                rec["closed"] = time.monotonic() - rec["t"]
                sel.unregister(key.fileobj)
                key.fileobj.close()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    out = {}
    for kind in kinds:
        recs = [r for r in conns if r["kind"] == kind]
        closed = [r["closed"] for r in recs if r["closed"] is not None]
        out[kind] = {"sent": len(recs), "closed": len(closed),
                     "close_after": stats(closed),
                     "bytes_from_server": sum(r["got"] for r in recs)}
    return out


# ---- oversize ---------------------------------------------------------------

def oversize_request(kind, sni, size):
    """(bytes to send first, bytes to send after a pause) for one kind."""
    host = "Host: %s\r\n" % sni
    if kind == "url":
        return ("GET /%s HTTP/1.1\r\n%s\r\n" %
                ("a" * size, host)).encode(), b""
    if kind == "header":
        return ("GET %s HTTP/1.1\r\n%sX-Big: %s\r\n\r\n" %
                (POLICY_PATH, host, "b" * size)).encode(), b""
    if kind == "headers":
        many = "".join("X-H%d: v\r\n" % i for i in range(size // 10))
        return ("GET %s HTTP/1.1\r\n%s%s\r\n" %
                (POLICY_PATH, host, many)).encode(), b""
    if kind == "body":
        # The header alone must draw the refusal: the body only follows
        # after a pause, to see the server close on it.
        return ("POST %s HTTP/1.1\r\n%sContent-Length: 1000000000\r\n\r\n" %
                (POLICY_PATH, host)).encode(), b"c" * size
    if kind == "chunked":
        chunk = b"%x\r\n%s\r\n" % (1024, b"d" * 1024)
        return ("POST %s HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n" %
                (POLICY_PATH, host)).encode(), chunk * (size // 1024)
    raise ValueError(kind)


def oversize_one(a, ctx, src):
    first, later = oversize_request(a.kind, a.sni, a.size)
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect((a.host, a.port))
    if ctx is not None:
        s = ctx.wrap_socket(s, server_hostname=a.sni)
    s.setblocking(False)
    got, sent, closed, early = b"", 0, False, None
    pending = first
    pause_until = None
    # A chunked body goes out one chunk every 0.5 s: a slow upload.
    piece = 1024 + 9 if a.kind == "chunked" else 16384
    next_piece = 0.0
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    end = t0 + a.duration
    while time.monotonic() < end and not closed:
        if not pending and later and pause_until is None:
            pause_until = time.monotonic() + 0.5
        if pause_until is not None and time.monotonic() >= pause_until:
            # What the server said before the body was sent.
            early = got.split(b"\r\n", 1)[0].decode("latin-1")
            pending, later, pause_until = later, b"", None
        events = selectors.EVENT_READ
        if pending and pause_until is None and time.monotonic() >= next_piece:
            events |= selectors.EVENT_WRITE
        sel.modify(s, events)
        for _, ev in sel.select(timeout=0.1):
            if ev & selectors.EVENT_READ:
                try:
                    while True:
                        data = s.recv(65536)
                        if not data:
                            closed = True
                            break
                        got = (got + data)[:65536]
                except (ssl.SSLWantReadError, BlockingIOError):
                    pass
                except (ssl.SSLError, OSError):
                    closed = True
            if ev & selectors.EVENT_WRITE and pending and not closed:
                try:
                    n = s.send(pending[:piece])
                    sent += n
                    pending = pending[n:]
                    if early is not None and a.kind == "chunked":
                        next_piece = time.monotonic() + 0.5
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                        BlockingIOError):
                    pass
                except (ssl.SSLError, OSError):
                    pending = b""  # the server stopped reading: wait for close
    sel.close()
    s.close()
    return {"status": got.split(b"\r\n", 1)[0].decode("latin-1"),
            "early": early, "closed": closed, "sent": sent,
            "seconds": round(time.monotonic() - t0, 2)}


def oversize(a):
    import concurrent.futures
    ctx = ssl.create_default_context(cafile=a.ca) if a.tls else None
    sources = parse_sources(a.sources)
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(
            lambda i: oversize_one(a, ctx, sources[i % len(sources)]),
            range(a.count)))
    out = {"count": len(results), "status": {}, "early": {},
           "closed": sum(1 for r in results if r["closed"]),
           "sent": stats([r["sent"] for r in results]),
           "seconds": stats([r["seconds"] for r in results])}
    for r in results:
        out["status"][r["status"]] = out["status"].get(r["status"], 0) + 1
        if r["early"] is not None:
            out["early"][r["early"]] = out["early"].get(r["early"], 0) + 1
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["hold", "junk", "oversize"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--sni", default="mta-sts.example.com")
    p.add_argument("--ca")
    p.add_argument("--sources", default="127.0.0.1")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--ramp", type=float, default=0)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--behaviour", default="trickle",
                   choices=["idle", "trickle", "trickle-hello"])
    p.add_argument("--reopen", action="store_true")
    p.add_argument("--ready")
    p.add_argument("--release")
    p.add_argument("--settle", type=float, default=3)
    p.add_argument("--final-request", action="store_true")
    p.add_argument("--kind", default="url",
                   choices=["url", "header", "headers", "body", "chunked"])
    p.add_argument("--size", type=int, default=1 << 20)
    a = p.parse_args()
    if not 0 < a.count <= MAX_CONNS or not 0 < a.duration <= MAX_SECONDS:
        sys.exit("flood.py: --count 1..%d and --duration up to %d s" %
                 (MAX_CONNS, MAX_SECONDS))
    if a.size > 16 << 20:
        sys.exit("flood.py: --size up to 16 MiB")
    raise_fd_limit(a.count * (4 if a.mode == "junk" else 1))
    if a.mode == "hold":
        out = Hold(a).run()
    elif a.mode == "junk":
        out = junk(a)
    else:
        out = oversize(a)
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
