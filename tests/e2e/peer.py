#!/usr/bin/env python3
# peer.py: small scripted SMTP and HTTPS peers for tests/e2e/test_check.sh,
# test_check_serve.sh and test_deadlines.sh, for the cases a real MTA or web
# server is awkward to configure for. Usage:
#   peer.py PORT ADDR=MODE[:CERT:KEY]...
# listens on PORT of every ADDR (addresses of the test's own network) with
# its MODE. SMTP modes:
#   tls         STARTTLS offered, TLS 1.2+ with CERT/KEY (PEM)
#   tls11       the same, but TLS 1.1 only (what senders must refuse)
#   nostarttls  EHLO answered without STARTTLS
#   silent      the connection accepted and never answered (an MX that
#               hangs), until the client gives up or 20 s pass
#   drip        a greeting that never ends: one byte every 2 s (each read
#               of the client gets something; only a deadline for the
#               whole dialogue ends it), until the client gives up
# It answers EHLO, STARTTLS, QUIT (and NOOP) and nothing else. HTTPS modes
# (TLS with CERT/KEY, any request answered so, for a policy host that
# serves what senders must refuse):
#   https-redirect  301 to https://elsewhere.example/.well-known/mta-sts.txt
#   https-html      200 with a valid policy as Content-Type text/html
#   https-big       200 text/plain, a valid policy padded past 64 KiB
#   https-silent    the request read and never answered (until 20 s pass)
# One thread per connection; prints "ready" once every socket listens.
import socket
import ssl
import sys
import threading
import time
import warnings


def session(conn, mode, ctx):
    if mode == "silent":
        while conn.recv(1024):
            pass
        return
    if mode == "drip":
        # "220-" lines never followed by the last "220 " line; the
        # timeout of 20 s per send never fires, as the client reads.
        while True:
            for b in b"220-mx.test slowly\r\n":
                conn.sendall(bytes([b]))
                time.sleep(2)
    f = conn.makefile("rwb", buffering=0)

    def say(text):
        f.write(text.encode() + b"\r\n")

    say("220 mx.test ESMTP scripted")
    tls = False
    while True:
        line = f.readline()
        if not line:
            return
        verb = line.strip().split(b" ")[0].upper()
        if verb == b"EHLO":
            lines = ["mx.test", "PIPELINING"]
            if mode == "tls" and not tls:
                lines.append("STARTTLS")
            lines.append("8BITMIME")
            for i, l in enumerate(lines):
                say("250%s%s" % ("-" if i < len(lines) - 1 else " ", l))
        elif verb == b"STARTTLS" and mode == "tls" and not tls:
            say("220 go ahead")
            try:
                conn = ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return
            f = conn.makefile("rwb", buffering=0)
            tls = True
        elif verb == b"QUIT":
            say("221 bye")
            return
        elif verb == b"NOOP":
            say("250 ok")
        else:
            say("502 not here")


POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 86400\r\n"


def https_session(conn, mode, ctx):
    conn = ctx.wrap_socket(conn, server_side=True)
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    if mode == "https-silent":
        while conn.recv(1024):
            pass
        return
    status, ctype, body = "200 OK", "text/plain", POLICY
    if mode == "https-redirect":
        status, body = "301 Moved Permanently", b"moved\r\n"
    elif mode == "https-html":
        ctype = "text/html"
    elif mode == "https-big":
        body = POLICY + b"\r\n" * 33000
    head = "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        status, ctype, len(body))
    if mode == "https-redirect":
        head += "Location: https://elsewhere.example/.well-known/mta-sts.txt\r\n"
    conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


def serve(sock, mode, ctx):
    while True:
        conn, _ = sock.accept()
        conn.settimeout(20)

        def run(c=conn):
            try:
                if mode.startswith("https-"):
                    https_session(c, mode, ctx)
                else:
                    session(c, mode, ctx)
            except OSError:
                pass
            finally:
                c.close()

        threading.Thread(target=run, daemon=True).start()


def main():
    port = int(sys.argv[1])
    threads = []
    for spec in sys.argv[2:]:
        addr, rest = spec.split("=", 1)
        parts = rest.split(":")
        mode = parts[0]
        ctx = None
        if mode in ("tls", "tls11") or mode.startswith("https-"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if mode == "tls11":
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1_1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
                mode = "tls"
            ctx.load_cert_chain(parts[1], parts[2])
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr.strip("[]"), port))
        s.listen(16)
        t = threading.Thread(target=serve, args=(s, mode, ctx), daemon=True)
        t.start()
        threads.append(t)
    print("ready", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
