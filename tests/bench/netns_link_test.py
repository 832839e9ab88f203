#!/usr/bin/python3
"""bench/cluster/netns_link.sh: `up` makes two namespaces whose veth link
carries about RATE (tc tbf), `down` removes them. Needs root, ip netns and
tbf: exits 77 (skipped) otherwise. Bounded: a few seconds."""
import os
import subprocess
import sys
import time
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "cluster", "netns_link.sh")
NAME = f"tnl{os.getpid() % 100000}"
PORT = 9917

SERVER = f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("{{addr}}", {PORT})); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    n += len(d)
c.sendall(b"%d" % n); c.close()
"""

CLIENT = f"""
import socket, time
s = socket.create_connection(("{{addr}}", {PORT}), timeout=10); data = b"x" * (3 << 20); t = time.monotonic()
s.sendall(data); s.shutdown(socket.SHUT_WR); r = s.recv(100)
print(r.decode(), time.monotonic() - t)
"""


def namespaces():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


class NetnsLinkTest(unittest.TestCase):
    def tearDown(self):
        subprocess.run([SCRIPT, "down", NAME], capture_output=True)

    def test_link_is_shaped_and_removed(self):
        up = subprocess.run([SCRIPT, NAME, "20mbit"], capture_output=True, text=True, timeout=30)
        self.assertEqual(up.returncode, 0, up.stderr)
        lines = up.stdout.split("\n")
        self.assertTrue(lines[0].startswith(f"{NAME}_a 10."), up.stdout)
        self.assertTrue(lines[1].startswith(f"{NAME}_b 10."), up.stdout)
        addr_b = lines[1].split()[1]
        self.assertTrue(addr_b.endswith(".2"))
        for side in "ab":
            qdisc = subprocess.run(["ip", "netns", "exec", f"{NAME}_{side}", "tc", "qdisc", "show", "dev",
                                    f"{NAME}{side}"], capture_output=True, text=True).stdout
            self.assertIn("tbf", qdisc)
            self.assertIn("rate 20Mbit", qdisc)
        # Again with the same name: refused, nothing changed.
        again = subprocess.run([SCRIPT, "up", NAME, "20mbit"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("already exists", again.stderr)

        server = subprocess.Popen(["ip", "netns", "exec", f"{NAME}_b", sys.executable, "-c",
                                   SERVER.replace("{addr}", addr_b)], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(server.stdout.readline().strip(), "ready")
            client = subprocess.run(["ip", "netns", "exec", f"{NAME}_a", sys.executable, "-c",
                                     CLIENT.replace("{addr}", addr_b)], capture_output=True, text=True, timeout=20)
            self.assertEqual(client.returncode, 0, client.stderr)
            received, seconds = client.stdout.split()
            self.assertEqual(int(received), 3 << 20)
            # 3 MiB = 25.2 Mbit: at 20 Mbit/s at least ~1.2 s (allow the initial burst).
            self.assertGreater(float(seconds), 1.0)
        finally:
            server.kill()
            server.wait(5)
            server.stdout.close()

        down = subprocess.run([SCRIPT, "down", NAME], capture_output=True, text=True, timeout=30)
        self.assertEqual(down.returncode, 0, down.stderr)
        self.assertNotIn(f"{NAME}_a", namespaces())
        self.assertNotIn(f"{NAME}_b", namespaces())

    def test_bad_arguments(self):
        for args, message in ((["bad name!", "1mbit"], "NAME"), ([NAME, "fast"], "RATE"), ([NAME, "5furlongs"], "unit")):
            r = subprocess.run([SCRIPT] + args, capture_output=True, text=True, timeout=10)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(message, r.stderr)


if __name__ == "__main__":
    if os.geteuid() != 0 or subprocess.run([SCRIPT, "check"], capture_output=True).returncode != 0:
        print("skipped: needs root, ip netns and tc tbf", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
