"""common.py — what every check of the real-server harness needs (issue 13):
processes that are always ended, bounded waits, the check list, ttst-supervise
and ttst-meta runs summarised in one line.

Processes. The harness makes itself a child subreaper (prctl), so a new version
that a committed update left serving (F, a fork of the old server whose parent
ended) is reparented to it; at exit it ends every child it has, by pid, and waits
for them. Nothing it started outlives it, committed update or not."""
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def my_children():
    """Pids of this process's children (also orphans reparented to it)."""
    me = os.getpid()
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == me:
            kids.append(int(d))
    return kids


def end_children():
    """SIGKILL every child by pid and reap it; repeated until none is left (a
    killed server's own orphans come to us next)."""
    for _ in range(20):
        kids = my_children()
        if not kids:
            return
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in kids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def kill_pid(pid):
    """Ends one process we started (or that was reparented to us) and reaps it."""
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not os.path.exists(f"/proc/{pid}"):
                return
        time.sleep(0.01)


def syscall_nr(pid):
    """The system call `pid` sleeps in (/proc/PID/syscall), None if running/gone."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            first = f.read().split()
    except OSError:
        return None
    return int(first[0]) if first and first[0].lstrip("-").isdigit() else None


EPOLL_WAITS = {232, 281, 441}  # epoll_wait, epoll_pwait, epoll_pwait2


def wait_idle(pid, timeout=30.0, calls=EPOLL_WAITS):
    """Waits (bounded) until `pid` sleeps in one of `calls`; False on timeout or exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return False
        if syscall_nr(pid) in calls:
            # twice in a row, a little apart: not just passing through
            time.sleep(0.02)
            if syscall_nr(pid) in calls:
                return True
        time.sleep(0.01)
    return False


def wait_until(predicate, timeout=30.0):
    """Polls `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def wait_port(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def free_port():
    """A TCP port free on 127.0.0.1 now, whose next port is free too."""
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        try:
            t = socket.socket()
            t.bind(("127.0.0.1", port + 1))
            t.close()
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


class Checks:
    """The list of checks: one line each as it ends, then 'N passed, N failed'."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def result(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        line = ("PASS " if ok else "FAIL ") + name + (f" — {detail}" if detail else "")
        print(line, flush=True)
        return ok

    def not_run(self, name, why):
        return self.result(name, False, "not run: " + why)

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)


class Update:
    """One ttst-supervise run: exit status, its one-line outcome, the report."""

    def __init__(self, rc, line, report_path, report):
        self.rc = rc
        self.line = line
        self.report_path = report_path
        self.report = report

    @property
    def committed(self):
        return self.rc == 0 and (self.report or {}).get("outcome") == "committed"

    @property
    def new_pid(self):
        return (self.report or {}).get("new_pid")

    def why(self):
        """The supervisor's one-line reason, with the report's path."""
        where = f" (report {self.report_path})" if self.report_path else ""
        return f"exit {self.rc}: {self.line}{where}"


def supervise(tools, pid, new, report_dir, validate_only=False, timeout_s=30, bound_s=90, extra=()):
    """Runs ttst-supervise on `pid` with the new executable `new`, bounded (`extra`: more options);
    timeout_s None: no --timeout, the supervisor's default limit (supervisor/time_limit.h)."""
    os.makedirs(report_dir, exist_ok=True)
    cmd = [tools.supervise, "--pid", str(pid), "--new", new] + \
        ([] if timeout_s is None else ["--timeout", f"{timeout_s}s"]) + ["--report-dir", report_dir, "--json"]
    if validate_only:
        cmd.append("--validate-only")
    cmd += list(extra)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=bound_s, text=True,
                           errors="replace")
    except subprocess.TimeoutExpired:
        return Update(-1, f"ttst-supervise did not end within {bound_s} s (killed)", None, None)
    lines = [l for l in p.stderr.splitlines() if l.startswith("ttst-supervise:")]
    line = lines[-1] if lines else (p.stderr.strip().splitlines() or ["(no output)"])[-1]
    report_path = None
    if "Report: " in line:
        line, report_path = line.rsplit(" Report: ", 1)
    report = None
    try:
        report = json.loads(p.stdout) if p.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    if report is None and report_path and os.path.exists(report_path):
        with open(report_path) as f:
            report = json.load(f)
    return Update(p.returncode, line.strip(), report_path, report)


def log(*args):
    print("  ..", *args, file=sys.stderr, flush=True)
