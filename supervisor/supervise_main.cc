// ttst-supervise — live-update a running program to a new version, validated by
// time-traveling state transfer, rolled back on any failure.
//
//   ttst-supervise --pid N --new PATH [--xfer PLUGIN] [--timeout T] [--report-dir DIR]
//                  [--validate-only] [--forward-only] [--allow-different-program]
//                  [--pidfile FILE] [--grace 1s] [--json] [-v]
//
// Exit status: 0 committed (or --validate-only passed), 1 rolled back, 2 refused
// before touching the program, 3 internal error (the program is intact).
// stderr: progress per phase (unless --json), then one line saying what happened and
// what to do. stdout: nothing, or the report as JSON with --json.
//
// The shipped binary: no test hooks (test_hooks.h), and the agent it embeds holds
// the state-transfer tasks only. Its test variant is supervise_testing_main.cc.
#include "supervisor/supervise_cli.h"

int main(int argc, char** argv) { return ttst::supervisor::supervise_main(argc, argv, nullptr); }
