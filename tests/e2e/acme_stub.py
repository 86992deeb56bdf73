#!/usr/bin/env python3
"""acme_stub: a small HTTPS ACME server stand-in for test_acme_client.sh,
for what Pebble 2.4 does not do: RFC 9773 renewalInfo, and a newOrder that
answers rateLimited with Retry-After. Its directory sends nonces and
accounts to the real Pebble (so the client's account is Pebble's) and keeps
newOrder and renewalInfo for itself. It records what it was asked in a
JSON-lines log: the renewalInfo certificate ids and the payload of every
newOrder (decoded from the JWS), so that the test can check what the client
sent. Loopback only; test fixture, never part of the server.

usage: acme_stub.py PORT CERT KEY PEBBLE_DIRECTORY_JSON LOG
  PEBBLE_DIRECTORY_JSON: Pebble's directory, as fetched by the test.
"""
import base64
import http.server
import json
import ssl
import sys

port, cert, key, pebble_dir, log_path = sys.argv[1:6]
with open(pebble_dir) as f:
    pebble = json.load(f)
base = "https://localhost:%s" % port
directory = {
    "newNonce": pebble["newNonce"],
    "newAccount": pebble["newAccount"],
    "newOrder": base + "/new-order",
    "renewalInfo": base + "/renewal-info",
    "meta": {"termsOfService": pebble["meta"]["termsOfService"]},
}


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
            record({"renewalInfo": cert_id})
            self.reply(200, {"suggestedWindow": {
                "start": "2026-01-02T04:00:00Z",
                "end": "2026-01-03T04:00:00Z"},
                "explanationURL": base + "/why"},
                headers=[("Retry-After", "21600")])
        else:
            self.reply(404, {"type": "about:blank"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        jws = json.loads(self.rfile.read(n))
        if self.path == "/new-order":
            record({"newOrder": json.loads(b64url_decode(jws["payload"]))})
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
