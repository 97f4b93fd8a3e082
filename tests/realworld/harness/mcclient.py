"""mcclient.py — a small memcached text-protocol client (1.2's commands) and the
harness's data set: 50,000 keys spread over every slab class, 200 incr counters,
generated deterministically so that two servers can be given the same preload."""
import random
import socket
import time


class Conn:
    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.line().decode()

    def set_many(self, items, batch=500):
        """items: [(key, flags, value bytes)]; pipelined; returns the replies that were not STORED."""
        bad = []
        for i in range(0, len(items), batch):
            part = items[i:i + batch]
            self.send(b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k.encode(), f, len(v), v) for k, f, v in part))
            for k, _, _ in part:
                r = self.line()
                if r != b"STORED":
                    bad.append((k, r))
        return bad

    def get_many(self, keys, batch=100):
        """{key: (flags, value)} of the keys the server has."""
        out = {}
        for i in range(0, len(keys), batch):
            self.send(("get " + " ".join(keys[i:i + batch]) + "\r\n").encode())
            while True:
                line = self.line()
                if line == b"END":
                    break
                parts = line.split()
                if len(parts) < 4 or parts[0] != b"VALUE":
                    raise ValueError(f"unexpected reply {line[:80]!r}")
                n = int(parts[3])
                data = self.exact(n + 2)[:n]
                out[parts[1].decode()] = (int(parts[2]), data)
        return out

    def stats(self, what=""):
        self.send(("stats " + what).strip().encode() + b"\r\n")
        out = {}
        while True:
            line = self.line().decode()
            if line == "END":
                return out
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]


def slab_classes(log_text):
    """Chunk sizes from memcached -vv's start-up lines 'slab class N: chunk size S ...'."""
    sizes = []
    for line in log_text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 6 and parts[0] == "slab" and parts[1] == "class" and parts[3] == "chunk":
            sizes.append(int(parts[5]))
    return sizes


def value_for(key, n):
    pattern = (key + ":").encode()
    return (pattern * (n // len(pattern) + 1))[:n]


def data_set(n_keys=50000, max_value=1024 * 1024 - 512):
    """[(key, flags, value)]: a dense sweep of small lengths and a 5 % geometric sweep
    up to `max_value` (every slab class gets items), then small random values."""
    rnd = random.Random(13)
    lengths = list(range(1, 2048))
    x = 2048.0
    while x < max_value:
        lengths.append(int(x))
        x *= 1.05
    lengths.append(max_value)
    items = []
    for i in range(n_keys):
        key = f"key{i:06d}"
        n = lengths[i] if i < len(lengths) else rnd.randint(1, 200)
        items.append((key, rnd.randint(0, 65535), value_for(key, n)))
    return items


def counters(n=200):
    """[(key, [increments])]: each counter starts at 0 and is incremented."""
    rnd = random.Random(14)
    return [(f"ctr{i:03d}", [rnd.randint(1, 1000) for _ in range(rnd.randint(1, 5))]) for i in range(n)]


def preload(port, items, ctrs):
    """Stores the data set and the counters; returns a problem string or ''."""
    c = Conn(port, timeout=120)
    try:
        bad = c.set_many(items)
        if bad:
            return f"{len(bad)} sets not stored, first {bad[0][0]}: {bad[0][1][:60]!r}"
        for key, incs in ctrs:
            if c.cmd(f"set {key} 0 0 1\r\n0") != "STORED":
                return f"counter {key} not stored"
            for inc in incs:
                r = c.cmd(f"incr {key} {inc}")
                if not r.isdigit():
                    return f"incr {key}: {r}"
        return ""
    finally:
        c.close()


def snapshot(port, keys):
    c = Conn(port, timeout=120)
    try:
        return c.get_many(keys)
    finally:
        c.close()


def compare(want, got):
    """'' when equal, else one line naming the first difference and the counts."""
    missing = [k for k in want if k not in got]
    differ = [k for k in want if k in got and got[k] != want[k]]
    extra = [k for k in got if k not in want]
    if not missing and not differ and not extra:
        return ""
    first = (missing or differ or extra)[0]
    return (f"{len(missing)} missing, {len(differ)} different, {len(extra)} unexpected "
            f"of {len(want)} keys (first: {first})")


def wait_started(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            Conn(port, timeout=2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
