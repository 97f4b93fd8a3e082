# process_test.bzl — xfer_process_test: a test of the state transfer on real processes
# (P, F and R through the inject engine, stfw/tests/xfer_fixture.h). They use ptrace,
# so they run outside the sandbox ("local") and are tagged "ptrace".

_PROCESS_TEST_DEPS = [
    "//stfw:task_abi",
    "//stfw:transfer_checks",
    "//stfw:xfer_fixture",
    "//dwarfmeta:image_reader",
    "//inject",
    "//inject/tests:test_util",
    "//third_party:doctest_main",
]

def xfer_process_test(name, data, deps = []):
    """stfw/tests/NAME.cc with the test programs `data` and the shared fixture."""
    native.cc_test(
        name = name,
        srcs = ["tests/%s.cc" % name],
        data = data,
        tags = [
            "local",
            "ptrace",
        ],
        deps = _PROCESS_TEST_DEPS + deps,
    )
