"""memcached124_checks.py — memcached 1.2.3 -> 1.2.4 live with user transfer code
(issue 14): 1.2.4's items grow a CAS field, which ttst-meta plan says needs user
transfer code (memcached_checks.plan_check: exit 3 naming the item type, without a
plugin). With the plugin shipped in tests/realworld/memcached/
(memcached-1.2.3-1.2.4_xfer.c, built here against the generated header of both
releases' types), 1.2.3 holding 50,000 keys over every slab class, 200 counters
and 3 client connections held open mid-session is updated live; afterwards every
key, value, flag and counter is equal, the server says 1.2.4, the held connections
keep working (1,000 more keys stored and deleted before: the free lists hold
chunks), 1.2.4's own commands work on the carried-over items (gets / cas,
delete and store again in every class), and the report shows the plugin's
functions validated by the backward run (nothing unvalidated). Before it, the
plugin built with a wrong backward function must roll back (state_diff) leaving
P's answers unchanged."""
import os
import subprocess

import common
import mcclient
import memcached_checks as mc

V1, V2 = "1.2.3", "1.2.4"
PLUGIN = "memcached-1.2.3-1.2.4_xfer.c"


def build_plugin(tools, builds, work, variant=""):
    """(path of the built plugin, problem); variant "lossy": -DXFER_LOSSY."""
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "memcached", PLUGIN)
    out = os.path.join(work, "xfer")
    os.makedirs(out, exist_ok=True)
    steps = [[tools.meta, "xfer-skeleton", builds[f"memcached-{V1}"], builds[f"memcached-{V2}"], "--out", out,
              "--header-only"],
             [tools.ttst_cc, "--xfer-plugin", "-Wall", "-Werror", "-I", out] + (["-DXFER_LOSSY"] if variant else []) +
             ["-o", os.path.join(out, f"xfer{variant}.plugin"), src]]
    for cmd in steps:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        if p.returncode != 0:
            return None, f"{os.path.basename(cmd[0])} exited {p.returncode}: {p.stdout.strip()[-300:]}"
    return os.path.join(out, f"xfer{variant}.plugin"), ""


def gets(conn, key):
    """(flags, value, cas) of `key` by 1.2.4's `gets`, or None."""
    conn.send(f"gets {key}\r\n".encode())
    line = conn.line().split()
    if line == [b"END"]:
        return None
    if len(line) != 5 or line[0] != b"VALUE":
        raise ValueError(f"gets {key}: {b' '.join(line)[:80]!r}")
    data = conn.exact(int(line[3]) + 2)[:-2]
    if conn.line() != b"END":
        raise ValueError(f"gets {key}: no END")
    return int(line[2]), data, int(line[4])


def new_commands(port, items):
    """'' when 1.2.4's commands work on carried-over items, else what did not:
    gets/cas on a carried-over key (a stale cas refused), and in every slab class a
    carried-over key deleted and stored again (its chunk freed and reused)."""
    c = mcclient.Conn(port, timeout=60)
    try:
        key, flags, value = items[0]
        got = gets(c, key)
        if not got or got[:2] != (flags, value) or got[2] == 0:
            return f"gets {key} answered {got and got[:2]}, cas {got and got[2]}"
        if (r := c.cmd(f"cas {key} {flags} 0 3 {got[2]}\r\nnew")) != "STORED":
            return f"cas with the carried-over cas id answered {r!r}"
        if (r := c.cmd(f"cas {key} {flags} 0 3 {got[2]}\r\nold")) != "EXISTS":
            return f"cas with a stale cas id answered {r!r}"
        if c.set_many([(key, flags, value)]):
            return f"set {key} back failed"
        for k, f, v in items[1:2048:7] + items[-64:]:  # every size range, so every slab class
            if (r := c.cmd(f"delete {k}")) != "DELETED":
                return f"delete {k} answered {r!r}"
            if c.set_many([(k, f, v)]):
                return f"storing {k} ({len(v)} bytes) again failed"
        return ""
    finally:
        c.close()


def report_facts(u):
    """(plugin calls forward, plugin calls backward, unvalidated targets) of a report."""
    calls = {t.get("direction"): t.get("plugin_calls", 0) for t in (u.report or {}).get("transfers", [])}
    unvalidated = [t for t in (u.report or {}).get("transfers", []) if t.get("unvalidated")]
    return calls.get("forward", 0), calls.get("backward", 0), unvalidated


def lossy_check(checks, tools, builds, work, pid, port, keys, prefix):
    """The plugin built with a wrong backward function (the slab chunks the moved
    items took not given back): --validate-only must roll back with state_diff
    naming slabclass, and P answer as before."""
    name = f"{prefix}: a lossy backward function (-DXFER_LOSSY) rolls back with state_diff naming slabclass"
    plugin, problem = build_plugin(tools, builds, work, "lossy")
    if not plugin:
        return checks.result(name, False, problem)
    before = mcclient.snapshot(port, keys)
    u = common.supervise(tools, pid, builds[f"memcached-{V2}"], os.path.join(work, "reports"), validate_only=True,
                         extra=["--xfer", plugin])
    wheres = [d.get("where", "") for d in (u.report or {}).get("differences", [])]
    named = any(w.startswith("slabs.c::slabclass[") for w in wheres)
    idle = common.wait_idle(pid, 30)
    diff = mcclient.compare(before, mcclient.snapshot(port, keys)) if idle else "P is not idle again"
    ok = u.rc == 1 and (u.report or {}).get("reason") == "state_diff" and named and diff == ""
    return checks.result(name, ok, f"differences {wheres[:3]}...; P after it: {diff or 'unchanged'}; " + u.why())


def run(checks, tools, builds, work):
    os.makedirs(work, exist_ok=True)
    prefix = f"memcached {V1} -> {V2} with the shipped plugin"
    names_after = ["every key, value, flag and counter equal afterwards", f"the server answers `version` with {V2}",
                   "the 3 held connections keep working",
                   "gets/cas, delete and store again work on the carried-over items in every slab class",
                   "the backward run validated the plugin (both directions, nothing unvalidated)"]
    plugin, problem = build_plugin(tools, builds, work)
    checks.result(f"{prefix}: the plugin builds (ttst-meta xfer-skeleton --header-only, ttst-cc --xfer-plugin)",
                  plugin is not None, problem or plugin)
    items, ctrs = mcclient.data_set(), mcclient.counters()
    want = mc.expected(items, ctrs)
    keys = list(want)
    sizes = mc.class_sizes(builds[f"memcached-{V1}"], work)
    port = common.free_port()
    pid, session, problem = mc.prepare(builds[f"memcached-{V1}"], port, work, "past124", items, ctrs)
    name = f"{prefix}: live with 50,000 keys over every slab class, 200 counters, 3 held connections: committed"
    if not plugin or problem or not common.wait_idle(pid, 30):
        checks.result(name, False, problem or ("no plugin" if not plugin else "P did not become idle"))
        for n in names_after:
            checks.not_run(f"{prefix}: {n}", "no update")
        common.kill_pid(pid)
        return
    used, total = mc.covered(port, sizes)
    # 1,000 more keys of the data set's sizes stored and deleted: their chunks on
    # their classes' free lists (slots), where the plugin takes chunks for the items
    # that no longer fit theirs
    spares = [(f"spare{i:04d}", f, v) for i, (_, f, v) in enumerate(items[:2000:2])]
    c = mcclient.Conn(port, timeout=60)
    try:
        bad = c.set_many(spares)
        deleted = [k for k, _, _ in spares if c.cmd(f"delete {k}") == "DELETED"]
    finally:
        c.close()
    keys += [k for k, _, _ in spares]  # read afterwards: still deleted
    if bad or len(deleted) != len(spares):
        checks.result(f"{prefix}: 1,000 spare keys stored and deleted before", False,
                      f"{len(bad)} not stored, {len(deleted)} deleted")
    lossy_check(checks, tools, builds, work, pid, port, keys, prefix)
    u = common.supervise(tools, pid, builds[f"memcached-{V2}"], os.path.join(work, "reports"),
                         extra=["--xfer", plugin])
    checks.result(name, u.committed and used == total, f"slab classes used {used} of {total}; " + u.why())
    if u.committed and common.wait_idle(u.new_pid or 0, 30):
        got = mcclient.snapshot(port, keys)
        diff = mcclient.compare(want, got)
        checks.result(f"{prefix}: {names_after[0]}", diff == "",
                      diff or f"{len(want)} keys equal, {len(spares)} deleted ones still deleted")
        version = mc.ask_version(port)
        checks.result(f"{prefix}: {names_after[1]}", version == f"VERSION {V2}", version)
        problem = session.finish()
        checks.result(f"{prefix}: {names_after[2]}", problem == "", problem)
        problem = new_commands(port, items)
        checks.result(f"{prefix}: {names_after[3]}", problem == "", problem)
        fwd, bwd, unvalidated = report_facts(u)
        checks.result(f"{prefix}: {names_after[4]}", fwd > 0 and bwd > 0 and not unvalidated,
                      f"plugin calls forward {fwd}, backward {bwd}; unvalidated {unvalidated or 'none'}")
    else:
        for n in names_after:
            checks.not_run(f"{prefix}: {n}", "the update did not commit")
    session.close()
    common.kill_pid(u.new_pid if u.committed else pid)
