"""memcached16_checks.py — memcached 1.6.38 -> 1.6.39 with its default threads
(issue 19): 4 workers with their own libevent loops, the main (dispatcher) thread,
the LRU crawler, LRU maintainer, slab rebalancer, logger and hash-table
maintenance threads (tests/realworld/memcached/STATUS-1.6.md).

On a P given 100,000 keys over every slab class, 200 counters and 8 client
connections held open across the workers (accepted round-robin: two per worker,
in different states): quiescence of every thread, idle (a --validate-only run
must get past quiescence: a refusal in a later phase, shown, still passes it);
5 --validate-only runs that pass and leave P's answers unchanged; the update,
and after it every key equal through new connections and through the held ones,
the held connections working, and memcached's own t/ tests (the files that use
one default server) giving the same results as a fresh 1.6.39 given the same
preload. On a second, small P under a bounded load of 4 clients: quiescence
under load, then an update that loses and fails no request. A check that cannot
pass today carries the supervisor's one-line reason."""
import os
import re
import shutil
import subprocess
import threading
import time

import common
import mcclient
from memcached_checks import class_sizes, covered, suite_summary

V1, V2 = "1.6.38", "1.6.39"
N_KEYS = 100000
# The updates of the P with N_KEYS keys run under the supervisor's DEFAULT time limit
# (no --timeout: supervisor/time_limit.h, issue 15's "no timeout by size"). Each
# transfer takes 2.4-3.1 s of the agent's CPU; at a load average near 20 on the 2-core
# box a direction takes 11-18 s of wall time, which a wall-time limit ran out of
# (session 8 passed --timeout 90s here). The CPU budget counts the CPU and the wall
# bounds leave out the waits for a CPU; the harness's own kill bound is past the cap.
DEFAULT_LIMIT = dict(timeout_s=None, bound_s=900)
HELD = 8
THREADS_REFUSAL = "threads: quiescence reached"  # the supervisor's refusal after quiescence (issue 19)
# t/ files that use one default server and no start-up options (the harness gives them
# the server under test); the others start servers of their own with options
SUITE = ["bogus-commands.t", "cas.t", "flags.t", "getset.t", "incrdecr.t", "issue_104.t", "issue_108.t",
         "issue_14.t", "issue_140.t", "issue_152.t", "issue_163.t", "issue_192.t", "issue_260.t", "issue_29.t",
         "issue_3.t", "issue_41.t", "issue_68.t", "issue_70.t", "metaget.t",
         "noreply.t", "quit.t", "strtol-testing.t", "whitespace.t"]


def start(binary, port, work, tag):
    log = open(os.path.join(work, f"memcached-{tag}.log"), "w")
    args = [binary, "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-m", "256"]  # default -t 4
    if os.geteuid() == 0:
        args += ["-u", "root"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    return p.pid


def settled(port, bound_s=60):
    """Waits until the hash table is not expanding (100,000 keys pass 1.5 x 2^16:
    the maintenance thread moves every bucket) — bounded; True when settled."""
    c = mcclient.Conn(port)
    try:
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            if c.stats().get("hash_is_expanding", "0") == "0":
                return True
            time.sleep(0.1)
        return False
    finally:
        c.close()


def past_quiescent(u):
    """A validate-only run that got past quiescence: passed, or ended in a later
    phase (the report lists the phases that ran: start-up or a transfer after
    the quiesce phase), or refused after it by a build without thread transfer."""
    phases = [p.get("name") for p in (u.report or {}).get("phases", [])]
    later = any(p in phases for p in ("create", "snapshot", "startup", "forward"))
    return u.rc == 0 or THREADS_REFUSAL in u.line or ("quiesce" in phases and later)


def brief(line, n=600):
    return line if len(line) <= n else line[:n] + " …"


class Held:
    """8 connections opened one after the other (memcached hands them to its 4
    workers round-robin: two per worker), left in different states."""

    def __init__(self, port):
        self.c = [mcclient.Conn(port) for _ in range(HELD)]
        for i, c in enumerate(self.c):
            assert c.cmd(f"set held:{i} {i} 0 6\r\nheld:{i}") == "STORED"
        self.c[1].send(b"set held:half 9 0 7\r\n")  # halfway through a set: the data comes after
        got = self.c[2].get_many(["held:0", "held:2"])  # after a multi-get
        assert got == {"held:0": (0, b"held:0"), "held:2": (2, b"held:2")}, got
        assert self.c[3].stats("slabs")  # after a large reply
        assert self.c[4].cmd("mg held:4 v f") == "VA 6 f4"  # after a meta get
        assert self.c[4].line() == b"held:4"
        self.c[5].send(b"get held:")  # halfway through a command line
        assert self.c[6].cmd("incr ctr000 0").isdigit()  # after an incr
        # 0 and 7: idle after their set

    def finish(self):
        """'' when each held connection finishes its pending request and works on."""
        try:
            self.c[1].send(b"halfway\r\n")
            if (r := self.c[1].line()) != b"STORED":
                return f"held connection 1: the half-sent set ended with {r[:60]!r}"
            self.c[5].send(b"5\r\n")  # completes `get held:5`
            if (r := [self.c[5].line() for _ in range(3)]) != [b"VALUE held:5 5 6", b"held:5", b"END"]:
                return f"held connection 5: the half-sent get answered {r}"
            for i, c in enumerate(self.c):
                want = {f"held:{i}": (i, f"held:{i}".encode()), "held:half": (9, b"halfway")}
                if (g := c.get_many(list(want))) != want:
                    return f"held connection {i} read {g}"
            return ""
        except (OSError, ConnectionError, ValueError) as e:
            return f"a held connection failed: {e}"

    def read_share(self, keys):
        """Every key read through the held connections (each reads an eighth)."""
        out = {}
        for i, c in enumerate(self.c):
            out.update(c.get_many(keys[i::HELD]))
        return out

    def close(self):
        for c in self.c:
            c.close()


class Load:
    """4 clients, each a bounded loop of set + get of its own keys on one
    connection; every reply checked. Failed requests are counted, acknowledged sets
    remembered (each must read back afterwards)."""

    def __init__(self, port, clients=4, bound=50000):
        self.port, self.bound = port, bound
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.done = [0] * clients
        self.failed = []
        self.stored = {}
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self, i):
        try:
            c = mcclient.Conn(self.port)
        except OSError as e:
            with self.lock:
                self.failed.append(f"client {i} could not connect: {e}")
            return
        n = 0
        try:
            while not self.stop.is_set() and n < self.bound:
                k = f"load{i}:{n}"
                v = f"{k}:{n * 7}"
                if (r := c.cmd(f"set {k} {i} 0 {len(v)}\r\n{v}")) != "STORED":
                    raise ValueError(f"set {k} answered {r!r}")
                with self.lock:
                    self.stored[k] = (i, v.encode())
                if (g := c.get_many([k])) != {k: (i, v.encode())}:
                    raise ValueError(f"get {k} read {g}")
                n += 1
                self.done[i] = n
        except (OSError, ConnectionError, ValueError) as e:
            with self.lock:
                self.failed.append(f"client {i} after {n} requests: {e}")
        finally:
            c.close()

    def wait_for(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while sum(self.done) < n and time.monotonic() < deadline and not self.failed:
            time.sleep(0.05)

    def finish(self, more=200):
        """Lets every client make `more` requests, then ends the loops."""
        target = [d + more for d in self.done]
        deadline = time.monotonic() + 30
        while any(d < t for d, t in zip(self.done, target)) and time.monotonic() < deadline and not self.failed:
            time.sleep(0.05)
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def summary(self):
        return f"{sum(self.done)} requests (set + get) from {len(self.done)} clients, {len(self.failed)} failed" + (
            f", first: {self.failed[0]}" if self.failed else "")


def suite_for(source_dir, work):
    """A copy of the release's t/ (the SUITE files) whose helper connects to
    T_MEMD_USE_DAEMON (memcached 1.6's own switch for an external server)."""
    suite = os.path.join(work, "tsuite16")
    shutil.rmtree(suite, ignore_errors=True)
    os.makedirs(os.path.join(suite, "t"))
    shutil.copytree(os.path.join(source_dir, "t", "lib"), os.path.join(suite, "t", "lib"))
    for name in SUITE:
        if os.path.exists(os.path.join(source_dir, "t", name)):
            shutil.copy(os.path.join(source_dir, "t", name), os.path.join(suite, "t", name))
    binary = os.path.join(source_dir, "memcached")
    os.symlink(binary, os.path.join(suite, "memcached-debug"))  # the helper runs `-h` on it
    return suite


def run_suite16(suite, port, per_test_s=60):
    """{test file: 'ok 1, not ok 2, ... exit N'} against the server on `port`
    (T_MEMD_USE_DAEMON). None of SUITE's files depends on the server's clock
    (flush_all with a delay, expirations: left out), so no settling between files."""
    results = {}
    env = dict(os.environ, T_MEMD_USE_DAEMON=f"127.0.0.1:{port}")
    for name in sorted(os.listdir(os.path.join(suite, "t"))):
        if not name.endswith(".t"):
            continue
        try:
            p = subprocess.run(["perl", os.path.join("t", name)], cwd=suite, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, timeout=per_test_s, text=True, errors="replace")
            marks = [m.group(1) for m in (re.match(r"^((not )?ok \d+)", l) for l in p.stdout.splitlines()) if m]
            results[name] = ", ".join(marks) + f"; exit {p.returncode}"
        except subprocess.TimeoutExpired:
            results[name] = "timeout"
    return results


def prepare(binary, port, work, tag, items, ctrs):
    """A server with the preload, settled, and the held connections: (pid, held, problem)."""
    pid = start(binary, port, work, tag)
    if not mcclient.wait_started(port, 30):
        return pid, None, f"memcached {tag} did not start (see {work}/memcached-{tag}.log)"
    problem = mcclient.preload(port, items, ctrs)
    if not problem and not settled(port):
        problem = "the hash table was still expanding after 60 s"
    if problem:
        return pid, None, problem
    return pid, Held(port), ""


def validate_runs(checks, tools, pid, port, keys, before, work, runs=5):
    name = f"memcached {V1}: {runs} --validate-only runs pass and leave P's answers unchanged"
    outcomes = []
    for _ in range(runs):
        u = common.supervise(tools, pid, tools.build(f"memcached-{V2}"), os.path.join(work, "reports"),
                             validate_only=True, **DEFAULT_LIMIT)
        outcomes.append(u)
        if u.rc == -1:
            break
        if not common.wait_idle(pid, 30):
            return checks.result(name, False, f"P is not idle again after a run ({u.why()})")
    diff = mcclient.compare(before, mcclient.snapshot(port, keys))
    failed = [u for u in outcomes if u.rc != 0]
    note = f"runs ended: {', '.join(str(u.rc) for u in outcomes)}; P's answers " + (diff or "unchanged")
    if failed:
        return checks.result(name, False, f"{note}; {brief(failed[0].why())}")
    return checks.result(name, diff == "", note)


def serving(pid):
    """True while process pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def after_commit(checks, tools, u, port, keys, want, held, suite, fresh):
    got = mcclient.snapshot(port, keys)
    diff = mcclient.compare(want, got)
    checks.result(f"memcached {V1} -> {V2}: every key equal afterwards through new connections", diff == "",
                  diff or f"{len(keys)} keys")
    c = mcclient.Conn(port)
    version = c.cmd("version")
    c.close()
    checks.result(f"memcached {V1} -> {V2}: the server answers `version` with {V2}", version == f"VERSION {V2}",
                  version)
    problem = held.finish()  # first: two of them are halfway through a request
    checks.result(f"memcached {V1} -> {V2}: the {HELD} held connections finish their requests and keep working",
                  problem == "", problem)
    diff = mcclient.compare(want, held.read_share(keys)) if not problem else "not read: " + problem
    checks.result(f"memcached {V1} -> {V2}: every key equal afterwards through the {HELD} held connections",
                  diff == "", diff or f"{len(keys)} keys, an eighth through each")
    results = run_suite16(suite, port)
    differ = [t for t in results if results[t] != fresh.get(t)]
    checks.result(f"memcached {V1} -> {V2}: its own t/ tests give the same results as on a fresh {V2}",
                  not differ and bool(results),
                  suite_summary(results) if not differ else
                  f"{len(differ)} files differ, first {differ[0]}: updated '{results[differ[0]]}' "
                  f"vs fresh '{fresh.get(differ[0])}'")


def fresh_suite(v2, work, items, ctrs, keys, suite):
    """t/ results of a fresh 1.6.39 given the same preload, settled, read and held."""
    port = common.free_port()
    pid, held, problem = prepare(v2, port, work, "fresh16", items, ctrs)
    try:
        if problem:
            common.log(f"fresh memcached {V2}: {problem}")
            return {}
        # the requests the updated server got before its t/ run (stats.t-like counts)
        c = mcclient.Conn(port)
        c.stats("slabs")
        for _ in range(3):
            mcclient.snapshot(port, keys)
        c.cmd("version")
        c.close()
        held.finish()
        held.read_share(keys)
        results = run_suite16(suite, port)
        held.close()
        return results
    finally:
        common.kill_pid(pid)


def under_load(checks, tools, builds, work):
    """A second P (a small preload) under a bounded load of 4 clients: quiescence
    (validate-only), then the update: no request lost or failed."""
    v1, v2 = builds[f"memcached-{V1}"], builds[f"memcached-{V2}"]
    port = common.free_port()
    items = mcclient.data_set(2000, max_value=64 * 1024)
    pid = start(v1, port, work, "load")
    q_name = f"memcached {V1}: every thread reaches quiescence under a load of 4 clients (--validate-only)"
    u_name = f"memcached {V1} -> {V2} under a bounded load of 4 clients: committed, no request lost or failed"
    try:
        problem = "" if mcclient.wait_started(port, 30) else "memcached did not start"
        problem = problem or mcclient.preload(port, items, [])
        if problem:
            checks.result(q_name, False, problem)
            return checks.not_run(u_name, problem)
        load = Load(port)
        load.wait_for(2000)
        q = common.supervise(tools, pid, v2, os.path.join(work, "reports"), validate_only=True)
        load.wait_for(sum(load.done) + 500)
        u = common.supervise(tools, pid, v2, os.path.join(work, "reports"))
        load.finish()
        checks.result(q_name, past_quiescent(q) and not load.failed,
                      brief(q.why()) + ("; " + load.summary() if load.failed else ""))
        lost = ""
        if not load.failed:
            got = mcclient.snapshot(port, list(load.stored))
            lost = mcclient.compare(load.stored, got)
        ok = u.committed and not load.failed and not lost
        detail = load.summary() + (f"; acknowledged sets lost: {lost}" if lost else "")
        checks.result(u_name, ok, detail + ("" if u.committed else "; " + brief(u.why())))
        if u.committed:
            pid = u.new_pid or pid
    finally:
        common.kill_pid(pid)


def run(checks, tools, builds, sources, work):
    os.makedirs(work, exist_ok=True)
    t0 = time.monotonic()
    v1, v2 = builds[f"memcached-{V1}"], builds[f"memcached-{V2}"]
    items, ctrs = mcclient.data_set(N_KEYS), mcclient.counters()
    want = {k: (f, v) for k, f, v in items}
    for key, incs in ctrs:
        want[key] = (0, str(sum(incs)).encode())
    keys = list(want)
    sizes = class_sizes(v1, work)[:-1]  # 1.6 prints its last class; class_sizes adds 1.2's unprinted one
    port = common.free_port()
    pid, held, problem = prepare(v1, port, work, "past16", items, ctrs)
    name = (f"memcached {V1} -> {V2} with its default threads, {N_KEYS:,} keys over every slab class, "
            f"{HELD} held connections across workers: committed")
    q_name = f"memcached {V1}: every thread reaches quiescence, idle (--validate-only)"
    after = [f"every key equal afterwards through new connections", f"the server answers `version` with {V2}",
             f"the {HELD} held connections finish their requests and keep working",
             f"every key equal afterwards through the {HELD} held connections",
             f"its own t/ tests give the same results as on a fresh {V2}"]
    if problem or not common.wait_idle(pid, 30):
        why = problem or "P did not become idle"
        for n in [q_name, f"memcached {V1}: 5 --validate-only runs pass and leave P's answers unchanged", name]:
            checks.result(n, False, why)
        for n in after:
            checks.not_run(f"memcached {V1} -> {V2}: {n}", why)
        common.kill_pid(pid)
    else:
        used, total = covered(port, sizes)
        if used < total:
            checks.result(f"memcached {V1}: the preload covers every slab class", False, f"{used} of {total}")
        before = mcclient.snapshot(port, keys)
        diff = mcclient.compare(want, before)
        if diff:
            checks.result(f"memcached {V1}: the preload reads back", False, diff)
        q = common.supervise(tools, pid, v2, os.path.join(work, "reports"), validate_only=True, **DEFAULT_LIMIT)
        checks.result(q_name, past_quiescent(q), brief(q.why()))
        common.wait_idle(pid, 30)
        validate_runs(checks, tools, pid, port, keys, before, work)
        u = common.supervise(tools, pid, v2, os.path.join(work, "reports"), **DEFAULT_LIMIT)
        checks.result(name, u.committed, f"slab classes used {used} of {total}; " + brief(u.why()))
        if u.committed and common.wait_idle(u.new_pid or 0, 30):
            suite = suite_for(sources[f"memcached-{V2}"], work)
            fresh = fresh_suite(v2, work, items, ctrs, keys, suite)
            try:
                after_commit(checks, tools, u, port, keys, want, held, suite, fresh)
            except (OSError, ConnectionError) as e:  # v2 died or dropped a client: a failed check, not the group's end
                checks.result(f"memcached {V1} -> {V2}: the updated server keeps serving its clients", False,
                              f"{type(e).__name__}: {e} (the server {'lives' if serving(u.new_pid) else 'is gone'})")
        else:
            for n in after:
                checks.not_run(f"memcached {V1} -> {V2}: {n}", "the update did not commit: " + brief(u.why(), 200))
        held.close()
        common.kill_pid(u.new_pid if u.committed else pid)
    under_load(checks, tools, builds, work)
    common.log(f"memcached 1.6 checks: {time.monotonic() - t0:.0f} s")
