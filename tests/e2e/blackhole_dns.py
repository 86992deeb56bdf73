#!/usr/bin/env python3
# blackhole_dns.py: a DNS server that never answers, for
# tests/e2e/test_deadlines.sh. Usage: blackhole_dns.py PORT
# It binds UDP and TCP on 127.0.0.1:PORT, reads every query (UDP) or
# accepts every connection and reads it (TCP), never replies, and prints
# "ready" once both listen and one "query" line per UDP datagram or TCP
# connection, so a test can tell whether a lookup was asked at all.
import socket
import sys
import threading


def hold(conn):
    # Read and never answered; closed when the client goes.
    with conn:
        while conn.recv(512):
            pass


def tcp(sock):
    while True:
        conn, _ = sock.accept()
        print("query tcp", flush=True)
        threading.Thread(target=hold, args=(conn,), daemon=True).start()


def main():
    port = int(sys.argv[1])
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", port))
    t.listen(16)
    threading.Thread(target=tcp, args=(t,), daemon=True).start()
    print("ready", flush=True)
    while True:
        u.recvfrom(4096)
        print("query udp", flush=True)


if __name__ == "__main__":
    main()
