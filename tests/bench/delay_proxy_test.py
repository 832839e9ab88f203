#!/usr/bin/python3
"""bench/cluster/delay_proxy.py against a local echo server: a round trip
takes at least 2*D, order is kept, chunks in flight overlap (no bandwidth
cap), half-closes pass, SIGTERM exits 0. Bounded: well under 20 s."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "cluster", "delay_proxy.py")
DELAY_MS = 100


class EchoServer:
    """Echoes every byte back until the peer half-closes, then closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    @staticmethod
    def echo(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)


def recv_exactly(sock, n):
    out = b""
    while len(out) < n:
        data = sock.recv(n - len(out))
        if not data:
            break
        out += data
    return out


class DelayProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = EchoServer()
        cls.proxy = subprocess.Popen(
            [sys.executable, PROXY, "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{cls.echo.port}",
             "--delay-ms", str(DELAY_MS)], stdout=subprocess.PIPE, text=True)
        line = cls.proxy.stdout.readline()
        if "listening on" not in line:
            cls.proxy.kill()
            raise RuntimeError(f"proxy did not start: {line!r}")
        cls.port = int(line.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        if cls.proxy.poll() is None:
            cls.proxy.kill()
            cls.proxy.wait(5)
        cls.echo.sock.close()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def test_1_round_trip_takes_twice_the_delay(self):
        with self.connect() as s:
            for i in range(3):
                start = time.monotonic()
                s.sendall(b"ping%d" % i)
                self.assertEqual(recv_exactly(s, 5), b"ping%d" % i)
                elapsed = time.monotonic() - start
                self.assertGreaterEqual(elapsed, 2 * DELAY_MS / 1000.0)
                self.assertLess(elapsed, 2 * DELAY_MS / 1000.0 + 2.0)  # generous: shared machine

    def test_2_chunks_overlap_in_flight_and_keep_their_order(self):
        # 20 chunks 10 ms apart: with overlap the last arrives ~2*D after it
        # was sent (~0.4 s in all); one at a time would take 20*2*D = 4 s.
        chunks = [bytes([i]) * 1000 for i in range(20)]
        received = bytearray()
        with self.connect() as s:
            start = time.monotonic()
            reader = threading.Thread(target=lambda: received.extend(recv_exactly(s, 20000)))
            reader.start()
            for c in chunks:
                s.sendall(c)
                time.sleep(0.01)
            reader.join(10)
            elapsed = time.monotonic() - start
        self.assertEqual(bytes(received), b"".join(chunks))
        self.assertGreaterEqual(elapsed, 0.19 + 2 * DELAY_MS / 1000.0)
        self.assertLess(elapsed, 2.0)

    def test_3_bulk_transfer_and_half_close(self):
        payload = os.urandom(4 << 20)
        with self.connect() as s:
            out = bytearray()
            reader = threading.Thread(target=lambda: out.extend(recv_exactly(s, len(payload))))
            reader.start()
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            reader.join(10)
            self.assertEqual(bytes(out), payload)
            self.assertEqual(s.recv(1), b"")  # the echo server's close came through

    def test_4_sigterm_exits_cleanly(self):
        idle = self.connect()  # a connection still open at shutdown
        self.proxy.send_signal(signal.SIGTERM)
        self.assertEqual(self.proxy.wait(5), 0)
        idle.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
