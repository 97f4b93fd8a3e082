"""harness.py — the real-server harness of issue 13, run by ../run.sh after it
has built the tools: builds the six releases with ttst-cc (releases.py), then
runs the checks (memcached_checks.py, memcached124_checks.py, nginx_checks.py,
negative_checks.py),
one line each, ending "N passed, N failed". Exit 0 when every check passed, 1
otherwise, 2 when it could not run (no corpus, a tool missing).
  harness.py --corpus DIR --bazel-bin DIR --work DIR --cache DIR [--only memcached|nginx|negative]"""
import argparse
import os
import signal
import sys

import common
import memcached_checks
import memcached124_checks
import memcached16_checks
import negative_checks
import nginx_checks
import releases


class Tools:
    def __init__(self, bazel_bin, builds):
        self.supervise = os.path.join(bazel_bin, "supervisor", "ttst-supervise")
        self.meta = os.path.join(bazel_bin, "dwarfmeta", "ttst-meta")
        self.ttst_cc = os.path.join(bazel_bin, "stfw", "runtime", "ttst", "bin", "ttst-cc")
        self.runtime = [os.path.join(bazel_bin, "stfw", "runtime", "ttst", d) for d in ("lib/ttst_runtime.o",
                                                                                       "include/ttst.h")]
        self.quiesce_tests = os.path.join(bazel_bin, "supervisor", "quiesce", "tests")
        self.builds = builds

    def build(self, name):
        return self.builds[name]

    def missing(self):
        return [p for p in [self.supervise, self.meta, self.ttst_cc] + self.runtime if not os.path.exists(p)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--bazel-bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--only", choices=["memcached", "nginx", "negative", "memcached16"])
    a = ap.parse_args()
    common.become_subreaper()
    signal.signal(signal.SIGTERM, lambda *_: (common.end_children(), sys.exit(1)))
    checks = common.Checks()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    builds = {}
    tools = Tools(a.bazel_bin, builds)
    if tools.missing():
        checks.result("the tools are built", False, "missing " + ", ".join(tools.missing()))
        checks.summary()
        return 2
    try:
        built = releases.build_all(a.corpus, a.cache, here, tools.ttst_cc, tools.runtime)
        sources = {}
        for name in releases.RELEASES:
            binary, src, err = built[name]
            checks.result(f"{name} builds with ttst-cc from its tarball (+ the project's patch)", not err,
                          err or binary)
            if binary:
                builds[name] = binary
                sources[name] = src
        run_group(a.only, "memcached", [f"memcached-{v}" for v in ("1.2.2", "1.2.3", "1.2.4")], builds, checks,
                  lambda: memcached_checks.run(checks, tools, builds, sources, os.path.join(a.work, "memcached")))
        run_group(a.only, "memcached", [f"memcached-{v}" for v in ("1.2.3", "1.2.4")], builds, checks,
                  lambda: memcached124_checks.run(checks, tools, builds, os.path.join(a.work, "memcached124")))
        run_group(a.only, "nginx", [f"nginx-{v}" for v in nginx_checks.CHAIN], builds, checks,
                  lambda: nginx_checks.run(checks, tools, builds, os.path.join(a.work, "nginx")))
        run_group(a.only, "negative", [], builds, checks,
                  lambda: negative_checks.run(checks, tools, os.path.join(a.work, "negative")))
        run_group(a.only, "memcached16", ["memcached-1.6.38", "memcached-1.6.39"], builds, checks,  # issue 19
                  lambda: memcached16_checks.run(checks, tools, builds, sources, os.path.join(a.work, "memcached16")))
    finally:
        common.end_children()
    checks.summary()
    return 0 if checks.failed == 0 else 1


def run_group(only, group, needs, builds, checks, body):
    if only and only != group:
        return
    lacking = [n for n in needs if n not in builds]
    if lacking:
        checks.not_run(f"the {group} checks", "not built: " + ", ".join(lacking))
        return
    try:
        body()
    except Exception as e:  # a harness bug or an unexpected server answer: one line, go on
        checks.result(f"the {group} checks ran to their end", False, f"{type(e).__name__}: {e}")
        common.end_children()


if __name__ == "__main__":
    sys.exit(main())
