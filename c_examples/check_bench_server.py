#!/usr/bin/env python3
"""Smoke test of bench_server: the contract the benchmark harness checks.

Usage: check_bench_server.py BENCH_SERVER

Starts `BENCH_SERVER 0 ROOT` with a temporary ROOT holding 1m.bin, then
checks over 127.0.0.1: GET /hello is 200 "hello" text/plain on a kept-alive
connection, `Connection: close` closes, GET /1m.bin returns the file
exactly, and SIGTERM stops the server with exit status 0.
"""
import http.client
import os
import signal
import subprocess
import sys
import tempfile


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as root:
        data = bytes((i * 7 + 3) % 251 for i in range(1 << 20))
        with open(os.path.join(root, "1m.bin"), "wb") as f:
            f.write(data)
        proc = subprocess.Popen([binary, "0", root], stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.startswith("listening on 127.0.0.1:"), line
            port = int(line.rsplit(":", 1)[1])
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            for _ in range(3):  # the same connection, kept alive
                c.request("GET", "/hello")
                r = c.getresponse()
                assert r.status == 200, r.status
                assert r.getheader("Content-Type").startswith("text/plain"), r.getheaders()
                assert r.read() == b"hello"
            c.request("GET", "/1m.bin")
            r = c.getresponse()
            assert r.status == 200 and r.read() == data, "1m.bin differs"
            c.request("GET", "/hello", headers={"Connection": "close"})
            r = c.getresponse()
            assert r.read() == b"hello" and r.getheader("Connection") == "close"
            c.close()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0, proc.returncode
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print("bench_server: ok")


if __name__ == "__main__":
    main()
