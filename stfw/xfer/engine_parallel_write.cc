// engine_parallel_write.cc — the write phase on two threads: the heap objects in
// chunks, this thread's taken from the table's start, the worker's from its end
// (engine_beside.h: each thread's run stays one piece); the
// globals on this thread only (a global's write may supersede a start-up object).
// Every object's destination is its own heap block (never a word shared with
// another), so the two threads never write the same byte. The first failure in
// table order is the one reported, with the message one thread would have written.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_beside.h"

namespace ttst::stfw::engine_detail {

bool Engine::write_beside(uint32_t heap, uint32_t end) {
  if (!can_run_beside()) return false;
  BesideShare* s = prepare_beside();  // the worker copies write_list_
  if (!s) return true;  // out of memory: reported as such
  Engine* w = s->worker;
  s->set_untaken(heap, end), s->chunk = chunk_for(end - heap);
  if (!s->inner->beside(s->inner->ctx, &Engine::write_worker_main, w)) return false;  // nothing written yet
  env_ = &s->env, share_ = s;
  write_range(0, heap);  // the globals here only (a global's write may supersede a start-up object)
  if (failed()) __atomic_store_n(&s->first_failed, write_failed_at_, __ATOMIC_RELEASE);
  take_write_chunks();
  s->inner->beside_wait(s->inner->ctx);
  // The worker may give a range back (below its failure) after this thread found
  // nothing left to take and left its loop: nobody wrote it, and a failure there,
  // the first in table order, went unreported (parallel_phases_test, 1 run in 30).
  // The worker is done: what is left untaken is this thread's, alone.
  take_write_chunks();
  env_ = s->inner, share_ = nullptr;
  add_counts(w->result_);
  result_.write_threads = 2, result_.written_beside = w->result_.objects;
  arena_bytes_ += w->arena_bytes_;
  if (w->failed() && (!failed() || w->write_failed_at_ < write_failed_at_)) adopt_failure(*w);
  if (!write_list_) note_done(object_count_);
  return true;
}

void Engine::write_worker_main(void* engine) { static_cast<Engine*>(engine)->take_write_chunks(); }

// Chunks of heap objects until none is left, this thread fails, or the other failed
// before the chunk (a later failure could not be the first). This thread goes up
// from the front: what follows its failure is after it. The worker comes down from
// the back, each chunk from its last object (its reads of R's heap then go one way:
// engine_own_memory.cc's window), and gives what lies below its failure in the
// chunk back to this thread, which takes everything below the worker.
void Engine::take_write_chunks() {
  BesideShare* s = share_;
  const bool from_back = s->worker == this;
  for (uint32_t from, to; !failed() && s->take_chunk(from_back, &from, &to);) {
    if (from > __atomic_load_n(&s->first_failed, __ATOMIC_ACQUIRE)) break;
    if (from_back)
      write_range_down(from, to);
    else
      write_range(from, to);
    if (failed() && from_back) s->give_back(from, write_failed_at_);
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

}  // namespace ttst::stfw::engine_detail
