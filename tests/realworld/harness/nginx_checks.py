"""nginx_checks.py — nginx 1.26.0 -> 1.26.1 -> 1.26.2 single-process
(`master_process off; daemon off;`), once idle and once under a bounded load of
>= 2,000 requests from 4 keep-alive clients (issue 13): each update commits, 0
requests fail, a keep-alive connection opened before each update serves requests
after it on the same 4-tuple, and the `Server:` header names the new version."""
import os
import socket
import threading
import time

import common

CHAIN = ["1.26.0", "1.26.1", "1.26.2"]
BODY = b"hello from the ttst harness\n"


def prefix_for(work, port):
    prefix = os.path.join(work, f"nginx-{port}")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    os.makedirs(os.path.join(prefix, "html"), exist_ok=True)
    with open(os.path.join(prefix, "html", "index.html"), "wb") as f:
        f.write(BODY)
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(f"master_process off;\ndaemon off;\nerror_log {prefix}/logs/error.log info;\n"
                f"pid {prefix}/logs/nginx.pid;\nevents {{ worker_connections 256; }}\n"
                f"http {{\n  access_log off;\n  keepalive_timeout 300s;\n  keepalive_requests 1000000;\n"
                f"  server {{\n    listen 127.0.0.1:{port};\n    root {prefix}/html;\n  }}\n}}\n")
    return prefix


def start(binary, work, port):
    import subprocess
    prefix = prefix_for(work, port)
    log = open(os.path.join(prefix, "logs", "stderr.log"), "w")
    p = subprocess.Popen([binary, "-p", prefix + "/", "-c", os.path.join(prefix, "nginx.conf")],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    return p.pid


class KeepAlive:
    """One HTTP/1.1 keep-alive connection: GET / again and again."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.tuple = (self.sock.getsockname(), self.sock.getpeername())
        self.buf = b""

    def get(self):
        """(status line, Server header); raises on a failed request."""
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server before a response")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode(errors="replace").split("\r\n")
        fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        n = int(fields.get("content-length", "0"))
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server within a response")
            self.buf += chunk
        body, self.buf = self.buf[:n], self.buf[n:]
        if not lines[0].startswith("HTTP/1.1 200") or body != BODY:
            raise ValueError(f"unexpected response {lines[0]!r}")
        return lines[0], fields.get("server", "")

    def same_tuple(self):
        return (self.sock.getsockname(), self.sock.getpeername()) == self.tuple

    def close(self):
        self.sock.close()


class Load:
    """4 clients, each on its own keep-alive connection, until stopped or `bound` requests."""

    def __init__(self, port, clients=4, bound=200000):
        self.port, self.bound = port, bound
        self.done = 0
        self.failed = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self):
        conn = None
        while not self.stop.is_set():
            with self.lock:
                if self.done + len(self.failed) >= self.bound:
                    return
            try:
                conn = conn or KeepAlive(self.port)
                conn.get()
                with self.lock:
                    self.done += 1
            except (OSError, ConnectionError, ValueError) as e:
                with self.lock:
                    self.failed.append(str(e))
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn:
            conn.close()

    def total(self):
        with self.lock:
            return self.done + len(self.failed)

    def wait_for(self, n, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.done + len(self.failed) < n:
            time.sleep(0.01)
        return self.done + len(self.failed) >= n

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def step(checks, tools, builds, work, pid, port, old, new, mode, load):
    """One update old -> new of the server `pid`; returns the serving pid or None."""
    label = f"nginx {old} -> {new} ({mode})"
    try:
        held = KeepAlive(port)
        held.get()
    except (OSError, ConnectionError, ValueError) as e:
        checks.result(f"{label}: committed", False, f"no keep-alive connection before the update: {e}")
        return None
    if mode == "idle" and not common.wait_idle(pid, 30):
        checks.result(f"{label}: committed", False, "nginx did not become idle")
        return None
    u = common.supervise(tools, pid, builds[f"nginx-{new}"], os.path.join(work, "reports"))
    checks.result(f"{label}: committed", u.committed, u.why())
    if not u.committed:
        for what in ("a keep-alive connection opened before serves after it on the same 4-tuple",
                     f"the Server: header shows nginx/{new}"):
            checks.not_run(f"{label}: {what}", "the update did not commit")
        held.close()
        return None
    try:
        status, server = held.get()
        ok, detail = held.same_tuple(), f"{status}, Server: {server}"
    except (OSError, ConnectionError, ValueError) as e:
        ok, detail = False, f"the held connection failed after the update: {e}"
    checks.result(f"{label}: a keep-alive connection opened before serves after it on the same 4-tuple", ok, detail)
    held.close()
    try:
        fresh = KeepAlive(port)
        _, server = fresh.get()
        fresh.close()
    except (OSError, ConnectionError, ValueError) as e:
        server = f"(no response: {e})"
    checks.result(f"{label}: the Server: header shows nginx/{new}", server == f"nginx/{new}", f"Server: {server}")
    return u.new_pid


def chain(checks, tools, builds, work, mode):
    """1.26.0 -> 1.26.1 -> 1.26.2, idle or under load. A step that does not commit
    is followed by a fresh server of its new version, so that the next step is
    still tried (and says so)."""
    pid, port, load, loads, committed = None, None, None, [], 0
    for old, new in zip(CHAIN, CHAIN[1:]):
        label = f"nginx {old} -> {new} ({mode})"
        if pid is None:
            port = common.free_port()
            pid = start(builds[f"nginx-{old}"], work, port)
            if not common.wait_port(port, 30):
                for what in ("committed", "a keep-alive connection opened before serves after it on the same 4-tuple",
                             f"the Server: header shows nginx/{new}"):
                    checks.not_run(f"{label}: {what}", f"nginx {old} did not start (see {work})")
                common.kill_pid(pid)
                pid = None
                continue
            if mode == "load":
                load = Load(port)
                loads.append(load)
        if load:
            load.wait_for(load.total() + 500)
        new_pid = step(checks, tools, builds, work, pid, port, old, new, mode, load)
        if new_pid:
            pid, committed = new_pid, committed + 1
        else:  # P was left as it was (or is gone): the next step starts from a fresh server
            if load:
                load.finish()
                load = None
            common.kill_pid(pid)
            pid = None
    if load:
        load.wait_for(max(2000, load.total() + 500))
        load.finish()
    common.kill_pid(pid)
    if mode == "load":
        served = sum(l.done for l in loads)
        failed = [f for l in loads for f in l.failed]
        ok = committed == len(CHAIN) - 1 and not failed and served >= 2000
        checks.result(f"nginx {CHAIN[0]} -> {CHAIN[-1]} under load (4 clients, >= 2,000 requests): both updates "
                      "committed, 0 failed requests", ok,
                      f"{committed} of {len(CHAIN) - 1} updates committed; {served} requests served, "
                      f"{len(failed)} failed" + (f", first: {failed[0]}" if failed else ""))


def run(checks, tools, builds, work):
    os.makedirs(work, exist_ok=True)
    chain(checks, tools, builds, work, "idle")
    chain(checks, tools, builds, work, "load")
