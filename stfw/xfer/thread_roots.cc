// thread_roots.cc — the stack roots of threads other than main (issue 19). The
// supervisor passes, after the main threads' frames, one frames block per pair of
// threads it paired by start function and creation order (stfw_task.h); their
// locals are roots like main's (frame_roots.cc: typing, the lone-root refusal, the
// backward check that R's locals are what F's map back to, and forward the
// superseding of the start-up object F's local points to). Forward, the agent
// finds each other thread's stack from its frames (agent_task.cc) and the engine
// remaps its words like the main thread's (engine_frames.cc); the supervisor
// remaps each thread's registers and checks its stack (supervisor/future_frames.h).
// Without those stacks (none could be located), a local of another thread of F
// that would need superseding is refused here, naming it, rather than left
// pointing at an object the transfer supersedes.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

void Engine::refuse_thread_local(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p,
                                 uint64_t own, uint64_t translated) {
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: the local '").text(src_meta().str(p.name));
  message_.text("' of a thread's frame of ").text(src_meta().str(f.id)).text(" (not the main thread) holds ").hex(own);
  message_.text(" in the future version at its update point, where the transferred state has ").hex(translated);
  message_.text(": another thread's frames are not remapped; let that thread reach its objects through a global "
                "(or keep the state it started with in the main thread)");
}

}  // namespace ttst::stfw::engine_detail
