"""releases.py — the six releases built with ttst-cc from their tarballs, in
parallel, through tests/realworld/build_release.sh (which applies the project's
patch tests/realworld/<program>/<program>-<version>.patch). A build is kept in a
cache directory keyed by the tarball, the patch, build_release.sh and ttst-cc's
runtime (script, object, header): an unchanged input is not built again."""
import concurrent.futures
import hashlib
import os
import shutil
import subprocess

RELEASES = ["memcached-1.2.2", "memcached-1.2.3", "memcached-1.2.4", "nginx-1.26.0", "nginx-1.26.1",
            "nginx-1.26.2"]
RELEASES += ["memcached-1.6.38", "memcached-1.6.39"]  # issue 19: memcached 1.6 with threads (memcached16_checks.py)


def _hash_files(paths):
    h = hashlib.sha256()
    for p in paths:
        h.update(os.path.basename(p).encode() + b"\0")  # contents decide, not where they are
        if os.path.exists(p):
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def binary_of(name, out):
    return os.path.join(out, name, "memcached" if name.startswith("memcached") else "objs/nginx")


def build_one(name, corpus, cache, here, ttst_cc, runtime_files):
    """(name, binary, source dir, error)."""
    tarball = os.path.join(corpus, name + ".tar.gz")
    if not os.path.exists(tarball):
        return name, None, None, f"no {tarball}"
    patch = os.path.join(here, name.rsplit("-", 1)[0], name + ".patch")
    key = _hash_files([tarball, patch, os.path.join(here, "build_release.sh"), ttst_cc] + runtime_files)
    out = os.path.join(cache, f"{name}-{key}")
    binary = binary_of(name, out)
    if os.path.exists(os.path.join(out, "complete")) and os.path.exists(binary):
        return name, binary, os.path.join(out, name), ""
    for old in os.listdir(cache):  # builds of older inputs: not kept
        if old.startswith(name + "-") and old != os.path.basename(out):
            shutil.rmtree(os.path.join(cache, old), ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    try:
        p = subprocess.run(["bash", os.path.join(here, "build_release.sh"), tarball, out, ttst_cc],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return name, None, None, "build_release.sh did not end within 900 s"
    if p.returncode != 0 or not os.path.exists(binary):
        return name, None, None, (p.stderr.strip().splitlines() or ["build failed"])[0]
    open(os.path.join(out, "complete"), "w").close()
    return name, binary, os.path.join(out, name), ""


def build_all(corpus, cache, here, ttst_cc, runtime_files, parallel=3):
    """{name: (binary, source dir, error)} for every release."""
    os.makedirs(cache, exist_ok=True)
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        # nginx first: the longest builds start at once
        order = sorted(RELEASES, key=lambda n: not n.startswith("nginx"))
        for name, binary, src, err in pool.map(
                lambda n: build_one(n, corpus, cache, here, ttst_cc, runtime_files), order):
            results[name] = (binary, src, err)
    return results
