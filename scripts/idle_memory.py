#!/usr/bin/env python3
"""Memory per idle keep-alive connection of a running server.

Usage: idle_memory.py PORT PID [N]

Opens N connections to 127.0.0.1:PORT (default 500, bounded), sends one
`GET /` on each, waits for the answers, and reports the growth of the
server's VmRSS per connection, right after the answers and after 2.5 s of
idling. Traffic stays on loopback; everything is closed at the end.
"""
import socket
import sys
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for pid %d" % pid)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = min(int(sys.argv[3]) if len(sys.argv) > 3 else 500, 10000)
    base = rss_kb(pid)
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            socks.append(s)
        ok = sum(1 for s in socks if s.recv(4096).startswith(b"HTTP/1.1 200"))
        after = rss_kb(pid)
        time.sleep(2.5)
        idle = rss_kb(pid)
    finally:
        for s in socks:
            s.close()
    print(f"connections={n} answered_200={ok} rss_before={base}KB "
          f"per_conn_after_answer={(after - base) * 1024 // n}B per_conn_after_2.5s_idle={(idle - base) * 1024 // n}B")


if __name__ == "__main__":
    main()
