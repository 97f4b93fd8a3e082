// supervise_cli.h — the command line of ttst-supervise (CLI11): options, progress
// lines, the report written, the one-line outcome, the exit status. Shared by the
// shipped binary (supervise_main.cc, no test hooks) and its test variant
// (supervise_testing_main.cc). TRUSTED.
#pragma once

namespace ttst::supervisor {

struct TestHooks;  // test_hooks.h

// Runs ttst-supervise with `argv`; returns its exit status. `test_hooks` is null in
// the shipped binary.
int supervise_main(int argc, char** argv, const TestHooks* test_hooks);

}  // namespace ttst::supervisor
