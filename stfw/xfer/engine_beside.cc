// engine_beside.cc — the worker that runs part of a phase on the agent's helper
// thread (engine_beside.h): a copy of this engine with its own message buffer,
// scratch windows, counters and memo tables, and the Env behind a lock.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_beside.h"

// Placement construction without <new> (not available freestanding).
struct BesideWorkerTag {};
inline void* operator new(size_t, void* p, BesideWorkerTag) noexcept { return p; }
inline void operator delete(void*, void*, BesideWorkerTag) noexcept {}

namespace ttst::stfw::engine_detail {
namespace {
// Env::X behind the share's lock, for each callback the engine may call.
template <auto Member, class... A>
auto locked(void* ctx, A... a) {
  BesideShare* s = static_cast<BesideShare*>(ctx);
  SpinLock hold(&s->lock);
  return (s->inner->*Member)(s->inner->ctx, a...);
}

// The same without the lock, for a callback both threads may run at once.
template <auto Member, class... A>
auto forwarded(void* ctx, A... a) {
  BesideShare* s = static_cast<BesideShare*>(ctx);
  return (s->inner->*Member)(s->inner->ctx, a...);
}
}  // namespace

// What a phase needs to run on two threads: a second thread, enough heap objects,
// and no feature whose state the copy would not share or whose calls out of the
// engine must keep their order: user transfer code, values of a library's
// embedded types (libevent's events, replayed in order), TTST_KEEP_NEW graphs,
// carved containers (their sub-objects may share a word).
bool Engine::can_run_beside() const {
  return env_->beside && env_->beside_wait && object_count_ - global_count_ >= config_.beside_min &&
         !plugin_table_ && !plugin_slot_count_ && !library_embedded_count_ && !library_dst_embedded_count_ &&
         !kept_count_ && !annotations_.has_keep_new() && !container_count_;
}

// The share and the worker (not started); nullptr when the arena ran out (this
// engine has failed then).
BesideShare* Engine::prepare_beside() {
  BesideShare* s = alloc<BesideShare>(1);
  Engine* w = static_cast<Engine*>(static_cast<void*>(alloc<uint8_t>(sizeof(Engine))));
  char* worker_message = alloc<char>(config_.out_size + 1);
  if (failed()) return nullptr;
  new (static_cast<void*>(s), BesideWorkerTag{}) BesideShare();
  s->inner = env_;
  const Env& e = *env_;
  Env& l = s->env;
  if (e.scratch) l.scratch = &locked<&Env::scratch, uint64_t>;
  if (e.read_source) l.read_source = &locked<&Env::read_source, uint64_t, void*, uint64_t>;
  if (e.alloc) l.alloc = &locked<&Env::alloc, uint64_t, uint64_t, uint64_t>;
  if (e.release) l.release = &locked<&Env::release, uint64_t>;
  if (e.library_symbol) l.library_symbol = &locked<&Env::library_symbol, const LibRange*, uint64_t, char*, uint64_t>;
  if (e.library_release) l.library_release = &locked<&Env::library_release, uint32_t, uint64_t, uint64_t, uint32_t>;
  if (e.library_embedded)
    l.library_embedded =
        &locked<&Env::library_embedded, uint32_t, uint64_t, const uint8_t*, uint32_t, uint32_t, const char*>;
  if (e.library_handle) l.library_handle = &locked<&Env::library_handle, uint32_t, uint64_t, uint64_t>;
  if (e.read_initial) l.read_initial = &locked<&Env::read_initial, uint64_t, void*, uint64_t>;
  if (e.reserve) l.reserve = &locked<&Env::reserve, uint64_t>;
  if (e.reserve_ahead) l.reserve_ahead = &locked<&Env::reserve_ahead, uint64_t>;
  if (e.read_own) l.read_own = &forwarded<&Env::read_own, uint64_t, void*, uint64_t>;  // a pread: no state
  l.ctx = s;  // beside / beside_wait stay unset: the worker starts no worker

  new (static_cast<void*>(w), BesideWorkerTag{}) Engine(*this);
  w->become_worker(s, worker_message);
  if (w->failed()) return adopt_failure(*w), nullptr;
  s->worker = w;
  return s;
}

// The worker: a copy of this engine, given its own message buffer, scratch
// windows, counters and memos (the memo tables are filled lazily: copied, so each
// thread fills its own).
void Engine::become_worker(BesideShare* share, char* message_buf) {
  env_ = &share->env, share_ = share;
  message_ = Message{message_buf, config_.out_size};
  message_buf[0] = 0;
  advice_.buf = advice_buf_, advice_args_.buf = advice_args_buf_;
  result_ = Result{};
  arena_bytes_ = 0;
  backward_image_ = nullptr, backward_image_capacity_ = 0;
  own_window_ = nullptr, own_lo_ = own_hi_ = 0, own_window_tried_ = false;
  write_failed_at_ = kNoIndex;
  run_block_ = nullptr, run_block_size_ = run_block_used_ = 0;  // a second run's block is its engine's alone
  const uint32_t src_types = src_meta().type_count(), dst_types = dst_meta().type_count();
  has_pointer_memo_ = duplicate(has_pointer_memo_, src_types);
  counterpart_memo_ = duplicate(counterpart_memo_, src_types);
  same_flat_memo_ = duplicate(same_flat_memo_, 4096);
  member_plans_ = duplicate(member_plans_, 16384);
  dst_site_memo_ = duplicate(dst_site_memo_, 1024);
  handle_memo_ = duplicate(handle_memo_, src_types);
  holds_embedded_memo_ = duplicate(holds_embedded_memo_, dst_types);
}

// The worker's failure becomes this engine's: its message and what finish()
// completes it with (the refused value's path, the fix).
void Engine::adopt_failure(const Engine& worker) {
  message_.used = 0;
  uint64_t n = worker.message_.used < message_.size ? worker.message_.used : message_.size - 1;
  copy(message_.buf, worker.message_.buf, n);
  message_.used = n, message_.buf[n] = 0;
  result_.status = worker.result_.status;
  write_failed_at_ = worker.write_failed_at_;
  refused_at_ = worker.refused_at_, root_path_written_ = worker.root_path_written_;
  copy(advice_buf_, worker.advice_buf_, sizeof advice_buf_);
  advice_.used = worker.advice_.used, advice_allowed_ = worker.advice_allowed_;
}

void Engine::add_counts(const Result& w) {
  result_.objects += w.objects, result_.bytes += w.bytes, result_.pointers += w.pointers;
  result_.transforms += w.transforms, result_.untyped_copied += w.untyped_copied;
  result_.dead_pointers += w.dead_pointers, result_.unmapped_words += w.unmapped_words;
  result_.integers += w.integers, result_.literals += w.literals, result_.own_reads += w.own_reads;
  result_.frame_words += w.frame_words, result_.carved += w.carved, result_.container_free += w.container_free;
  result_.walked += w.walked;
}

}  // namespace ttst::stfw::engine_detail
