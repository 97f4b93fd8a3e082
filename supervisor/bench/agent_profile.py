#!/usr/bin/env python3
"""agent_profile.py — a flat profile per process from `perf record -a`, with the
injected agent's own functions named.

The agent runs from an anonymous executable mapping in F and R, so perf shows its
samples as [unknown]. Its ELF (bazel-bin/inject/agent/agent, a static PIE with
symbols) is mapped there from its first executable page: perf's MMAP2 record of
that r-xp //anon mapping, whose size is the ELF's text segment, gives the base.

    perf record -a [-g] -F 1999 -o perf.data -- <a benchmark run>
    supervisor/bench/agent_profile.py perf.data bazel-bin/inject/agent/agent [FROM TO]

FROM and TO (perf's timestamps, seconds) limit the samples to a window, e.g. the
final stop of a pre-copy run. Prints the busiest processes, each with its hottest
functions (kernel, libraries, program, agent:...)."""
import bisect
import collections
import re
import subprocess
import sys


def agent_symbols(elf):
    """(sorted start addresses, names) of the agent's functions, and its text segment size."""
    syms = []
    nm = subprocess.run(["nm", "-C", "--defined-only", elf], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    syms.sort()
    text, text_at = 0, 0x1000
    for line in subprocess.run(["readelf", "-lW", elf], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "LOAD" and "E" in f[6:-1]:
            text, text_at = int(f[5], 16), int(f[2], 16)  # the executable segment's MemSiz, VirtAddr
    return [a for a, _ in syms], [n for _, n in syms], text, text_at


def main():
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    data, elf = sys.argv[1], sys.argv[2]
    lo, hi = (float(sys.argv[3]), float(sys.argv[4])) if len(sys.argv) == 5 else (0.0, float("inf"))
    addrs, names, text, text_at = agent_symbols(elf)
    text_page = (text + 4095) & ~4095
    mmap = re.compile(r"PERF_RECORD_MMAP2 (\d+)/\d+: \[(0x[0-9a-f]+)\((0x[0-9a-f]+)\).*r-xp //anon")
    bases = {}
    counts = collections.defaultdict(collections.Counter)
    totals = collections.Counter()
    out = subprocess.run(["perf", "script", "-G", "-i", data, "--show-mmap-events", "-F", "comm,pid,time,ip,sym,dso"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = mmap.search(line)
        if m:
            if int(m.group(3), 16) == text_page:
                bases[int(m.group(1))] = int(m.group(2), 16)
            continue
        f = line.split()
        if len(f) < 4 or "PERF_RECORD" in line:
            continue
        try:
            comm, pid, t, ip = f[0], int(f[1]), float(f[2].rstrip(":")), int(f[3], 16)
        except ValueError:
            continue
        if not lo <= t <= hi:
            continue
        base = bases.get(pid)
        if base is not None and base <= ip < base + text_page:
            i = bisect.bisect_right(addrs, ip - base + text_at) - 1
            what = "agent:" + (names[i] if i >= 0 else "?")
        else:
            what = " ".join(f[4:])
        key = f"{comm}/{pid}"
        counts[key][what] += 1
        totals[key] += 1
    for key, n in totals.most_common(8):
        print(f"== {key}: {n} samples")
        for what, c in counts[key].most_common(20):
            print(f"  {c:6d} {100 * c / n:5.1f}%  {what[:140]}")


if __name__ == "__main__":
    main()
