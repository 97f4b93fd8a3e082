"""Build settings for code that runs inside the freestanding agent (UNTRUSTED).

Any library linked into //inject/agent:agent (the state-transfer engine, stfw, will
be one) must be built with these options: no libc, no stack protector, no
sanitizers (the agent builds under --config=asan too), position independent.
"""

AGENT_COPTS = [
    "-ffreestanding",
    "-fPIE",
    "-fno-stack-protector",
    "-fno-builtin",
    "-fno-sanitize=all",
    "-fno-asynchronous-unwind-tables",
    "-fcf-protection=none",
    "-O2",
]

def agent_library(name, copts = [], **kwargs):
    """A cc_library for the agent: freestanding options, PIE, always linked."""
    native.cc_library(
        name = name,
        copts = AGENT_COPTS + copts,
        features = ["-pie"],
        alwayslink = True,
        **kwargs
    )
