#!/usr/bin/env python3
"""tcp_forward.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT

A published port for compose_test.py, as docker-proxy makes one: accepts on
LISTEN_HOST:LISTEN_PORT and pipes each connection to TARGET_HOST:TARGET_PORT
(resolved per connection, so a service name works). Runs until killed.
"""

import socket
import sys
import threading


def pipe(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (sink, source):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client, target):
    try:
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
    except OSError as error:
        print("tcp_forward: %s:%d: %s" % (target[0], target[1], error), flush=True)
        client.close()
        return
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)
    client.close()
    upstream.close()


def main():
    listen_host, listen_port, target_host, target_port = sys.argv[1:5]
    server = socket.create_server((listen_host, int(listen_port)), reuse_port=False)
    print("tcp_forward: %s:%s -> %s:%s" % (listen_host, listen_port, target_host, target_port), flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=serve, args=(client, (target_host, int(target_port))), daemon=True).start()


if __name__ == "__main__":
    main()
