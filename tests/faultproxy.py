#!/usr/bin/env python3
"""A loopback TCP proxy between one simulated host and Redis, for the fault
tests (tests/faults.bats). Usage: faultproxy.py PORT REDIS_PORT LOG

It listens on 127.0.0.1:PORT and joins every connection to
127.0.0.1:REDIS_PORT, byte for byte. The test injects the network's faults:

  SIGSTOP / SIGCONT   a partition: nothing is relayed, the sockets stay open
                      (the kernel still accepts new connections)
  SIGHUP              every connection cut at once (reset), new ones taken
  SIGKILL             every connection cut, and none taken until the test
                      starts a new proxy on the same port
  SIGUSR1             cut the next connection that sends XADD: the command
                      reaches Redis, its reply is dropped, then both sides
                      are reset (a retried XADD must not double a chunk)
  SIGUSR2             the same for the next XREAD whose reply carries
                      entries (a retried XREAD must not lose or double one)

It writes "ready" to LOG once it listens, and "cut XADD" or "cut XREAD" for
each cut it made.
"""
import selectors
import signal
import socket
import struct
import sys

port, target, logpath = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
armed = set()           # the commands whose next reply is to be cut
sel = selectors.DefaultSelector()


def log(line):
    with open(logpath, "a") as f:
        f.write(line + "\n")


def reset(sock):
    """Close with a reset (RST), not an orderly end."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sel.unregister(sock)
    except (KeyError, ValueError):
        pass
    sock.close()


class Pair:
    """A client's connection and ours to Redis."""

    def __init__(self, client):
        self.client = client
        self.server = socket.create_connection(("127.0.0.1", target))
        self.waiting = None     # the armed command sent, its reply awaited
        self.closed = False
        sel.register(client, selectors.EVENT_READ, (self, True))
        sel.register(self.server, selectors.EVENT_READ, (self, False))

    def close(self, hard):
        if self.closed:
            return
        self.closed = True
        for s in (self.client, self.server):
            if hard:
                reset(s)
            else:
                sel.unregister(s)
                s.close()

    def relay(self, from_client):
        src, dst = ((self.client, self.server) if from_client
                    else (self.server, self.client))
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.close(False)
            return
        if from_client:
            for cmd in ("XADD", "XREAD"):
                if cmd in armed and b"\r\n%s\r\n" % cmd.encode() in data:
                    self.waiting = cmd
        elif self.waiting is not None:
            # XREAD's nil (nothing new) has nothing to lose: let it by.
            if self.waiting == "XADD" or not data.startswith(b"*-1"):
                armed.discard(self.waiting)
                log("cut " + self.waiting)
                self.close(True)
                return
            self.waiting = None
        try:
            dst.sendall(data)
        except OSError:
            self.close(False)


def arm(cmd):
    return lambda signum, frame: armed.add(cmd)


def cut_all(signum, frame):
    for key in list(sel.get_map().values()):
        if key.data is not None:
            key.data[0].close(True)
    log("cut all")


signal.signal(signal.SIGUSR1, arm("XADD"))
signal.signal(signal.SIGUSR2, arm("XREAD"))
signal.signal(signal.SIGHUP, cut_all)
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(64)
sel.register(listener, selectors.EVENT_READ, None)
log("ready")
while True:
    for key, _ in sel.select():
        if key.fileobj.fileno() == -1:
            continue            # closed by cut_all meanwhile
        if key.data is None:
            conn, _ = listener.accept()
            try:
                Pair(conn)
            except OSError:
                reset(conn)
        else:
            pair, from_client = key.data
            if not pair.closed:
                pair.relay(from_client)
