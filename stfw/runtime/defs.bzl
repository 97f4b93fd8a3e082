"""ttst_c_program: build a C test program with ttst-cc (the runtime linked in).

Bazel's own cc_binary strips DWARF (-Wl,-S), so programs that ttst reads are built
by a genrule that calls the wrapper directly:

    load("//stfw/runtime:defs.bzl", "ttst_c_program")
    ttst_c_program(name = "server_v1", srcs = ["server_v1.c"], copts = ["-O2"])

The output file is named after the target. `cc` picks the real compiler (gcc or
clang); `hdrs` are extra headers the sources include; `env` sets variables for
ttst-cc (TTST_POLLER).
"""

def ttst_c_program(name, srcs, hdrs = [], cc = "gcc", copts = [], linkopts = [], env = {}, **kwargs):
    # The rule gets its own name so that the output file can carry `name` itself
    # (labels such as ":server_v1" then name the program, with no Bazel warning).
    native.genrule(
        name = name + "_program",
        srcs = srcs + hdrs,
        outs = [name],
        tools = ["//stfw/runtime:ttst", "//stfw/runtime:ttst/bin/ttst-cc"],
        cmd = "{env}TTST_REAL_CC={cc} $(location //stfw/runtime:ttst/bin/ttst-cc) {copts} -o $@ {srcs} {linkopts}".format(
            env = "".join(["%s='%s' " % (k, v) for k, v in env.items()]),
            cc = cc,
            copts = " ".join(copts),
            srcs = " ".join(["$(location %s)" % s for s in srcs]),
            linkopts = " ".join(linkopts),
        ),
        **kwargs
    )

def ttst_xfer_plugin(name, srcs, hdrs = [], cc = "gcc", copts = [], **kwargs):
    """A user transfer plugin (stfw/xfer/PLUGINS.md) built with `ttst-cc --xfer-plugin`."""
    native.genrule(
        name = name + "_plugin",
        srcs = srcs + hdrs,
        outs = [name],
        tools = ["//stfw/runtime:ttst", "//stfw/runtime:ttst/bin/ttst-cc"],
        cmd = "TTST_REAL_CC={cc} $(location //stfw/runtime:ttst/bin/ttst-cc) --xfer-plugin {copts} -o $@ {srcs}".format(
            cc = cc,
            copts = " ".join(copts + ["-I$(GENDIR)/" + native.package_name(), "-I" + native.package_name()]),
            srcs = " ".join(["$(location %s)" % s for s in srcs]),
        ),
        **kwargs
    )
