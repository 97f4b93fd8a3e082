// library_adapters.cc — the library adapters' data (library_state.h): which
// members of each library's embedded types are the program's and which the
// library's, and the library's handle types. Shared by the engine in the agent and
// on the host (tests); the run-time parts are the agent's (libevent_adapter.cc).
// UNTRUSTED, freestanding.
#include "stfw/xfer/library_state.h"

namespace ttst::stfw {
namespace {

constexpr uint8_t kWalk = 0, kPointer = 2, kKeep = 3;  // annotations.h Rule values

// struct event (libevent 2.x, event2/event_struct.h): whose member is whose.
const LibraryMemberRule kEventRules[] = {
    {"struct event.ev_evcallback.evcb_active_next", kKeep, kKeep},  // active queue link
    {"struct event.ev_evcallback.evcb_flags", kKeep, kWalk},  // EVLIST_*: set by the replay; compared back
    {"struct event.ev_evcallback.evcb_closure", kKeep, kKeep},  // derived from the events by event_assign
    {"struct event.ev_evcallback.evcb_cb_union", kPointer, kPointer},  // the callback
    {"struct event.ev_timeout_pos", kKeep, kKeep},  // timeout heap index / common-timeout link
    {"struct event.ev_base", kKeep, kKeep},         // the owning base: the library's object
    {"struct event.ev_", kKeep, kKeep},             // io / signal list links, persistent period
    {"struct event.ev_res", kKeep, kKeep},          // last result, reset by event_assign
    {"struct event.ev_timeout", kKeep, kKeep},      // absolute deadline on P's clock
};
const char* const kEventHandles[] = {"event_base"};

}  // namespace

const LibraryAdapter kLibeventAdapter = {
    "libevent", "event", kEventRules, sizeof kEventRules / sizeof kEventRules[0], kEventHandles, 1,
    "ev_base",  "ev_evcallback.evcb_flags", 0x80,  // EVLIST_INIT
};

// glibc's stdio: a `FILE *` holding a stream fopen() allocated is the library's:
// F keeps the stream v2's start-up opened (P's buffered output is flushed at the
// commit: supervisor/stdio_flush.h). Nothing embedded, nothing to replay.
const char* const kStdioHandles[] = {"_IO_FILE"};
const LibraryAdapter kStdioAdapter = {
    "glibc stdio", nullptr, nullptr, 0, kStdioHandles, 1, nullptr, nullptr, 0,
};

const LibraryAdapter* const* library_adapters(uint32_t* count) {
  static const LibraryAdapter* const kAll[] = {&kLibeventAdapter, &kStdioAdapter};
  *count = 2;
  return kAll;
}

}  // namespace ttst::stfw
