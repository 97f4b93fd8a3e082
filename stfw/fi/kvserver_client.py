#!/usr/bin/env python3
"""kvserver_client.py — ttst-fi's workload and oracle for kvserver
(tests/programs/kvserver): `load PORT [KEYS]` sets KEYS keys (values of varied
lengths), overwrites some, deletes some and reads some, so the state has hash
chains, a reordered LRU list, hit counts and counters; `dump PORT` prints the
server's own DUMP line (a checksum of every entry and the counters), which
ttst-fi compares before and after an update. Exit 0 on success, 1 when the
server does not answer as expected."""
import socket
import sys


def session(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s, s.makefile("rb")


def ask(s, f, line):
    s.sendall(line.encode() + b"\n")
    reply = f.readline().decode(errors="replace")
    if not reply.endswith("\n"):
        raise RuntimeError("no reply to " + line.split(" ")[0])
    return reply.rstrip("\n")


def load(port, keys):
    s, f = session(port)
    for i in range(keys):
        if ask(s, f, "SET key-%d value-%d-%s" % (i, i, "x" * (i % 37))) != "OK":
            raise RuntimeError("SET failed")
    for i in range(0, keys, 7):
        ask(s, f, "SET key-%d again-%d" % (i, i))
    for i in range(3, keys, 11):
        ask(s, f, "DEL key-%d" % i)
    for i in range(0, keys, 5):
        ask(s, f, "GET key-%d" % i)
    ask(s, f, "QUIT")


def dump(port):
    s, f = session(port)
    line = ask(s, f, "DUMP")
    ask(s, f, "QUIT")
    if not line.startswith("DUMP "):
        raise RuntimeError("unexpected DUMP reply: " + line)
    print(line)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("load", "dump"):
        print("usage: kvserver_client.py load PORT [KEYS] | dump PORT", file=sys.stderr)
        return 2
    try:
        if sys.argv[1] == "load":
            load(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 200)
        else:
            dump(int(sys.argv[2]))
    except (OSError, RuntimeError, ValueError) as e:
        print("kvserver_client: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
