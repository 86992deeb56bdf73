#!/usr/bin/env python3
"""acme_stub: a small HTTPS ACME server stand-in for the ACME tests, for
what Pebble 2.4 does not do: RFC 9773 renewalInfo, and newOrder answers
Pebble does not give. Its directory sends nonces and accounts to the real
Pebble (so the client's account is Pebble's) and keeps renewalInfo for
itself; what it does with newOrder depends on MODE:

  ratelimit  (the default) newOrder is the stub's and answers rateLimited
             with Retry-After: 120; the window has begun (2026-01-02).
  ari        newOrder is Pebble's (real orders, real validation); the first
             certificate asked about gets a window starting 20 s after
             that first question and 20 s wide, every other one a window a
             day later (so the renewed certificate is not renewed again).
  replaced   newOrder is the stub's: one with "replaces" is answered
             alreadyReplaced (409), one without rateLimited; the window
             has begun.
  hang       newOrder is the stub's and never answered (the stub waits
             60 s, then closes); the window has begun.

It records what it was asked in a JSON-lines log: the renewalInfo
certificate ids (with the window given) and the payload of every newOrder
it answers (decoded from the JWS), so that the test can check what the
client sent. Loopback only; test fixture, never part of the server.

usage: acme_stub.py PORT CERT KEY PEBBLE_DIRECTORY_JSON LOG [MODE]
  PEBBLE_DIRECTORY_JSON: Pebble's directory, as fetched by the test.
"""
import base64
import http.server
import json
import ssl
import sys
import time

port, cert, key, pebble_dir, log_path = sys.argv[1:6]
mode = sys.argv[6] if len(sys.argv) > 6 else "ratelimit"
if mode not in ("ratelimit", "ari", "replaced", "hang"):
    sys.exit("acme_stub.py: MODE is ratelimit, ari, replaced or hang, not " + mode)
with open(pebble_dir) as f:
    pebble = json.load(f)
base = "https://localhost:%s" % port
directory = {
    "newNonce": pebble["newNonce"],
    "newAccount": pebble["newAccount"],
    "newOrder": pebble["newOrder"] if mode == "ari" else base + "/new-order",
    "renewalInfo": base + "/renewal-info",
    "meta": {"termsOfService": pebble["meta"]["termsOfService"]},
}
# ari: the certificate id asked about first, and when.
first = {}


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def window(cert_id):
    if mode != "ari":
        return "2026-01-02T04:00:00Z", "2026-01-03T04:00:00Z"
    if not first:
        first["id"], first["at"] = cert_id, int(time.time())
    start = first["at"] + 20 if cert_id == first["id"] else first["at"] + 86400
    return rfc3339(start), rfc3339(start + 20)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def record(entry):
    with open(log_path, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body, ctype="application/json", headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Replay-Nonce", "c3R1Yi1ub25jZQ")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/dir":
            self.reply(200, directory)
        elif self.path.startswith("/renewal-info/"):
            cert_id = self.path[len("/renewal-info/"):]
            start, end = window(cert_id)
            record({"renewalInfo": cert_id, "start": start, "end": end})
            self.reply(200, {"suggestedWindow": {"start": start, "end": end},
                "explanationURL": base + "/why"},
                headers=[("Retry-After", "21600")])
        else:
            self.reply(404, {"type": "about:blank"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        jws = json.loads(self.rfile.read(n))
        if self.path == "/new-order":
            payload = json.loads(b64url_decode(jws["payload"]))
            record({"newOrder": payload})
            if mode == "hang":
                time.sleep(60)
                self.close_connection = True
                return
            if mode == "replaced" and "replaces" in payload:
                self.reply(409, {
                    "type": "urn:ietf:params:acme:error:alreadyReplaced",
                    "detail": "replaced already (stub)", "status": 409},
                    ctype="application/problem+json")
                return
            self.reply(429, {
                "type": "urn:ietf:params:acme:error:rateLimited",
                "detail": "too many new orders (stub)", "status": 429},
                ctype="application/problem+json",
                headers=[("Retry-After", "120")])
        else:
            self.reply(404, {"type": "about:blank"})

    def log_message(self, fmt, *args):
        pass


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
