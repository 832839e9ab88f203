#!/usr/bin/python3
"""A TCP proxy that adds latency without limiting bandwidth.

  delay_proxy.py --listen HOST:PORT --upstream HOST:PORT --delay-ms D

Every chunk read from either side is written to the other side D ms after it
was read, in order. Reading goes on while earlier chunks wait (each direction
is a reader feeding a queue and a writer that sleeps until each chunk's due
time), so a stream's throughput is not capped by the delay: a round trip
through the proxy costs 2*D plus the peers' own time. Half-closes are passed
on with the same delay. This kernel has no netem; this gives the cluster
benchmarks their link latency (tc tbf, bench/cluster/netns_link.sh, gives
bandwidth).

Prints "delay_proxy: listening on HOST:PORT" (the real port for port 0) on
stdout once it accepts connections. SIGTERM or SIGINT: stop accepting, close
every connection, exit 0. Standard library only (python3 >= 3.8).
"""
import argparse
import asyncio
import signal
import sys

CHUNK = 256 * 1024


def parse_address(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


async def pump(reader, writer, delay, loop):
    """Copies reader -> writer, each chunk `delay` seconds after it was read."""
    queue = asyncio.Queue()

    async def read_side():
        try:
            while True:
                data = await reader.read(CHUNK)
                queue.put_nowait((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((loop.time() + delay, b""))

    async def write_side():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    read_task = asyncio.ensure_future(read_side())
    try:
        await write_side()
    finally:
        read_task.cancel()


async def handle(client_reader, client_writer, upstream, delay, connections):
    task = asyncio.current_task()
    connections.add(task)
    upstream_writer = None
    try:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*upstream)
        except OSError as e:
            print(f"delay_proxy: cannot reach upstream {upstream[0]}:{upstream[1]}: {e}", file=sys.stderr)
            return
        loop = asyncio.get_running_loop()
        await asyncio.gather(pump(client_reader, upstream_writer, delay, loop),
                             pump(upstream_reader, client_writer, delay, loop),
                             return_exceptions=True)
    finally:
        for w in (client_writer, upstream_writer):
            if w is not None:
                w.close()
        connections.discard(task)


async def serve(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connections = set()
    delay = args.delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.upstream, delay, connections), args.listen[0], args.listen[1])
    host, port = server.sockets[0].getsockname()[:2]
    print(f"delay_proxy: listening on {host}:{port}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()
    for task in list(connections):
        task.cancel()
    if connections:
        await asyncio.gather(*connections, return_exceptions=True)
    return 0


def main(argv):
    p = argparse.ArgumentParser(description="TCP proxy that delays every chunk by D ms in each direction")
    p.add_argument("--listen", type=parse_address, required=True, help="HOST:PORT to accept on (port 0: any)")
    p.add_argument("--upstream", type=parse_address, required=True, help="HOST:PORT to forward to")
    p.add_argument("--delay-ms", type=float, required=True, help="one-way delay in milliseconds (>= 0)")
    args = p.parse_args(argv)
    if args.delay_ms < 0:
        p.error("--delay-ms must be >= 0")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
