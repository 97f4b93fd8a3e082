// engine.cc — see engine.h: transfer() runs the engine's phases (engine_impl.h)
// in scratch memory. Phases: index (source heap walk, globals, object table), type
// (typed pointers from globals, then per-site types), map (allocate in F / find in
// R by origin ID), write (type transformation + pointer translation).
#include "stfw/xfer/engine.h"

#include "stfw/xfer/engine_impl.h"

// Placement construction without <new> (not available freestanding).
struct EngineTag {};
inline void* operator new(size_t, void* p, EngineTag) noexcept { return p; }
inline void operator delete(void*, void*, EngineTag) noexcept {}

namespace ttst::stfw {

using engine_detail::Engine;


Result transfer(const Config& cfg, const Env& env, KeptEngine** kept) {
  Engine* e = static_cast<Engine*>(env.scratch(env.ctx, sizeof(Engine)));
  if (!e) {
    Result r;
    r.status = TTST_STFW_STATUS_NO_MEMORY;
    return r;
  }
  new (static_cast<void*>(e), EngineTag{}) Engine(cfg, env);
  Result r = e->run();
  if (kept) *kept = r.status == TTST_STFW_STATUS_OK && cfg.keep ? reinterpret_cast<KeptEngine*>(e) : nullptr;
  return r;
}

Result transfer_delta(KeptEngine* kept, const Delta& delta) {
  return reinterpret_cast<Engine*>(kept)->run_delta(delta);  // engine_delta.cc
}

}  // namespace ttst::stfw
