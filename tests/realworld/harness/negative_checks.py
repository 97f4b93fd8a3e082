"""negative_checks.py — a call blocking mid-request through the same function
pointer as the declared poller stays non-quiescent (issue 13), with the shipped
ttst-supervise: pollprog (supervisor/quiesce/tests/pollprog.c, nginx-shaped: its
poller path is ngx_process_events_and_timers -> (*process_events) ->
ngx_epoll_process_events, in miniature) blocked in a request handler that waits
through that pointer is refused ("did not reach an update point"), and is left
as it was: its wait returns the event normally afterwards. Its idle loop, the
control, validates. The same for evprog's library poller (libevent's
event_base_loop) reached from a callback."""
import os
import subprocess

import common


def probe(tools, prog, args, work, calls, expect_rc):
    """Runs `prog args`, waits in `calls`, --validate-only; (ok, detail)."""
    p = subprocess.Popen([prog] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = p.stdout.readline()
        if not ready.startswith("READY"):
            return False, f"{os.path.basename(prog)} did not start"
        if args[0] in ("callback", "nested"):
            p.stdin.write("first\n")
            p.stdin.flush()
            p.stdout.readline()  # WAITING
        if not common.wait_idle(p.pid, 30, calls):
            return False, f"{os.path.basename(prog)} {args[0]} did not block"
        u = common.supervise(tools, p.pid, prog, os.path.join(work, "reports"), validate_only=True, timeout_s=3)
        p.stdin.write("x\n" if "pollprog" in prog else "last\n")
        p.stdin.flush()
        lines = []
        for _ in range(4):  # F may have printed READY lines into the same pipe
            line = p.stdout.readline()
            if not line or line.startswith("RESULT"):
                lines.append(line.strip())
                break
        untouched = bool(lines) and lines[-1] in ("RESULT rc=1 errno=0", "RESULT ok")
        ok = u.rc == expect_rc and untouched
        return ok, f"{u.why()}; then {lines[-1] if lines else 'nothing'}"
    finally:
        common.kill_pid(p.pid)


def run(checks, tools, work):
    os.makedirs(work, exist_ok=True)
    cases = [
        ("pollprog", ["handler"], common.EPOLL_WAITS, 2,
         "nginx-shaped poller: a handler blocked through the poller's function pointer is refused, P untouched"),
        ("pollprog", ["idle"], common.EPOLL_WAITS, 0,
         "nginx-shaped poller: the idle loop (control) validates"),
        ("evprog", ["nested", "wrapped"], common.EPOLL_WAITS, 2,
         "libevent poller: a callback blocked in event_base_loop (the poller's own function) is refused, P untouched"),
        ("evprog", ["callback"], {0}, 2,
         "libevent poller: a callback blocked in read() inside event_base_loop is refused, P untouched"),
    ]
    for prog, args, calls, rc, name in cases:
        ok, detail = probe(tools, os.path.join(tools.quiesce_tests, prog), args, work, calls, rc)
        checks.result("negative: " + name, ok, detail)
