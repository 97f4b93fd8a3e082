// engine_parallel_write.cc — the write phase on two threads. The heap objects are
// taken in chunks, in table order, by the engine's own thread and by a worker — a
// copy of the engine run on the agent's helper thread (Env::beside), so each thread
// has its own walk state (mode, path, current object, caches), memos and scratch
// (the backward image, the window on R's heap). What the earlier phases built (the
// object table, the copy of the source and its tags, the typing's tables) is only
// read. Every object's destination is its own (heap blocks never share a word), so
// the two threads never write the same byte. The Env's callbacks are taken one
// thread at a time (but R's reads of its own memory). The first failure in table order is the one reported, with the
// message one thread would have written.
// Not used (one thread, as before) where writing calls out of the engine in an
// order that may matter or shares more than that: user transfer code, values of a
// library's embedded types (libevent's events, replayed in order), TTST_KEEP_NEW
// graphs, carved containers (sub-objects may share words); nor for small states.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

// Placement construction without <new> (not available freestanding).
struct WriteWorkerTag {};
inline void* operator new(size_t, void* p, WriteWorkerTag) noexcept { return p; }
inline void operator delete(void*, void*, WriteWorkerTag) noexcept {}

namespace ttst::stfw::engine_detail {
namespace {
// Objects taken at a time: up to 2048, a 64th of the heap for small ones (both
// threads busy to the end), at least 16.
uint32_t chunk_for(uint32_t heap) { return heap / 64 > 2048 ? 2048 : heap / 64 < 16 ? 16 : heap / 64; }
constexpr uint32_t kNone = 0xffffffffu;

class SpinLock {
 public:
  explicit SpinLock(int* word) : word_(word) {
    while (__atomic_exchange_n(word_, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
  }
  ~SpinLock() { __atomic_store_n(word_, 0, __ATOMIC_RELEASE); }
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

 private:
  int* word_;
};
}  // namespace

struct WriteShare {
  uint32_t next = 0;           // the next chunk's first object (taken atomically)
  uint32_t end = 0, chunk = 0;
  uint32_t first_failed = kNone;  // the lowest object index a thread failed at (atomic min)
  uint64_t done = 0;           // heap objects written, for the progress word
  int lock = 0;                // the Env's callbacks, one thread at a time
  const Env* inner = nullptr;  // the engine's Env
  Env env;                     // the same callbacks behind the lock: both threads' while they write
  Engine* worker = nullptr;
};

namespace {
// Env::X behind the share's lock, for each callback the engine may call.
template <auto Member, class... A>
auto locked(void* ctx, A... a) {
  WriteShare* s = static_cast<WriteShare*>(ctx);
  SpinLock hold(&s->lock);
  return (s->inner->*Member)(s->inner->ctx, a...);
}

// The same without the lock, for a callback both threads may run at once.
template <auto Member, class... A>
auto forwarded(void* ctx, A... a) {
  WriteShare* s = static_cast<WriteShare*>(ctx);
  return (s->inner->*Member)(s->inner->ctx, a...);
}
}  // namespace

bool Engine::can_write_beside() const {
  return env_->beside && env_->beside_wait && object_count_ - global_count_ >= config_.write_beside_min && !plugin_table_ &&
         !plugin_slot_count_ && !library_embedded_count_ && !library_dst_embedded_count_ && !kept_count_ &&
         !annotations_.has_keep_new() && !container_count_;
}

bool Engine::write_beside() {
  if (!can_write_beside()) return false;
  WriteShare* s = alloc<WriteShare>(1);
  Engine* w = static_cast<Engine*>(static_cast<void*>(alloc<uint8_t>(sizeof(Engine))));
  char* worker_message = alloc<char>(config_.out_size + 1);
  if (failed()) return true;  // out of memory: reported as such
  new (static_cast<void*>(s), WriteWorkerTag{}) WriteShare();
  s->next = global_count_, s->end = object_count_, s->chunk = chunk_for(object_count_ - global_count_);
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

  new (static_cast<void*>(w), WriteWorkerTag{}) Engine(*this);
  w->become_write_worker(s, worker_message);
  if (w->failed()) return failed() ? true : (adopt_write_failure(*w), true);
  s->worker = w;
  if (!e.beside(e.ctx, &Engine::write_worker_main, w)) return false;  // nothing written yet
  env_ = &s->env, write_share_ = s;
  write_range(0, global_count_);  // the globals here only (a global's write may supersede a start-up object)
  if (failed()) __atomic_store_n(&s->first_failed, write_failed_at_, __ATOMIC_RELEASE);
  take_write_chunks();
  e.beside_wait(e.ctx);
  env_ = s->inner, write_share_ = nullptr;
  add_write_counts(w->result_);
  result_.write_threads = 2, result_.written_beside = w->result_.objects;
  arena_bytes_ += w->arena_bytes_;
  if (w->failed() && (!failed() || w->write_failed_at_ < write_failed_at_)) adopt_write_failure(*w);
  note_done(object_count_);
  return true;
}

// The worker: a copy of this engine, given its own message buffer, scratch
// windows, counters and memos (the memo tables are filled lazily: copied, so each
// thread fills its own).
void Engine::become_write_worker(WriteShare* share, char* message_buf) {
  env_ = &share->env, write_share_ = share;
  message_ = Message{message_buf, config_.out_size};
  message_buf[0] = 0;
  advice_.buf = advice_buf_, advice_args_.buf = advice_args_buf_;
  result_ = Result{};
  arena_bytes_ = 0;
  backward_image_ = nullptr, backward_image_capacity_ = 0;
  own_window_ = nullptr, own_lo_ = own_hi_ = 0, own_window_tried_ = false;
  write_failed_at_ = kNone;
  const uint32_t src_types = src_meta().type_count(), dst_types = dst_meta().type_count();
  has_pointer_memo_ = duplicate(has_pointer_memo_, src_types);
  counterpart_memo_ = duplicate(counterpart_memo_, src_types);
  same_flat_memo_ = duplicate(same_flat_memo_, 4096);
  member_plans_ = duplicate(member_plans_, 16384);
  dst_site_memo_ = duplicate(dst_site_memo_, 1024);
  handle_memo_ = duplicate(handle_memo_, src_types);
  holds_embedded_memo_ = duplicate(holds_embedded_memo_, dst_types);
}

void Engine::write_worker_main(void* engine) { static_cast<Engine*>(engine)->take_write_chunks(); }

// Chunks of heap objects in table order until none is left, this thread fails, or
// the other failed before the chunk (a later failure could not be the first).
void Engine::take_write_chunks() {
  WriteShare* s = write_share_;
  while (!failed()) {
    uint32_t from = __atomic_fetch_add(&s->next, s->chunk, __ATOMIC_RELAXED);
    if (from >= s->end || from > __atomic_load_n(&s->first_failed, __ATOMIC_ACQUIRE)) break;
    uint32_t to = s->end - from > s->chunk ? from + s->chunk : s->end;
    write_range(from, to);
    if (failed()) {
      uint32_t seen = __atomic_load_n(&s->first_failed, __ATOMIC_RELAXED);
      while (write_failed_at_ < seen &&
             !__atomic_compare_exchange_n(&s->first_failed, &seen, write_failed_at_, true, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED)) {
      }
      break;
    }
    uint64_t done = __atomic_add_fetch(&s->done, to - from, __ATOMIC_RELAXED);
    if (config_.progress) __atomic_store_n(&config_.progress[1], global_count_ + done, __ATOMIC_RELAXED);
  }
}

// The worker failed first: its message and what finish() completes it with (the
// refused value's path, the fix) become this engine's.
void Engine::adopt_write_failure(const Engine& worker) {
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

void Engine::add_write_counts(const Result& w) {
  result_.objects += w.objects, result_.bytes += w.bytes, result_.pointers += w.pointers;
  result_.transforms += w.transforms, result_.untyped_copied += w.untyped_copied;
  result_.dead_pointers += w.dead_pointers, result_.unmapped_words += w.unmapped_words;
  result_.integers += w.integers, result_.literals += w.literals, result_.own_reads += w.own_reads;
  result_.frame_words += w.frame_words, result_.carved += w.carved, result_.container_free += w.container_free;
}

}  // namespace ttst::stfw::engine_detail
