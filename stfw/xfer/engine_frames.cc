// engine_frames.cc — F's own frames at its update point (forward): the locals,
// parameters, spilled temporaries and saved registers of the update point's function
// and its callers may still point at start-up objects the transfer superseded (a loop
// function's parameter holding the event loop v2's start-up created, which the
// transfer replaced with P's and frees). Every such word of F's stopped stack is
// remapped to the object's counterpart at the same offset; a word whose object has
// no unique counterpart is refused naming the frame, because keeping the start-up
// object would silently serve v2's empty start-up state (and freeing it would crash).
//
// Which words are pointers: every 8-byte aligned word of the stack from the stopped
// rsp (red zone included) to the end of the stack mapping that lies inside a
// superseded object. Typed locals are a subset of these words; an untyped word
// (a spill, a saved callee-saved register) that happens to equal such an address
// is treated the same way, so no exact match can survive silently. The registers of
// F's stopped thread are the supervisor's to remap (it holds them; Result::superseded
// tells it what to remap), and it checks afterwards that no stack word or register
// still points into a freed one (supervisor/future_frames.h).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

namespace {
constexpr uint64_t kRedZone = 128;  // the System V red zone below rsp
}

// The one of F's start-up heap objects holding v (superseded or not; heap blocks
// do not overlap), by index; -1: none.
int64_t Engine::startup_index_holding(uint64_t v) const {
  for (uint64_t i = 0; i < startup_count_; ++i)
    if (v >= startup_objects_[i].addr && v - startup_objects_[i].addr < (startup_objects_[i].size ? startup_objects_[i].size : 1))
      return int64_t(i);
  return -1;
}

const StartupObject* Engine::superseded_holding(uint64_t v) const {
  const int64_t i = startup_index_holding(v);
  return i >= 0 && startup_objects_[i].superseded ? &startup_objects_[i] : nullptr;
}

bool Engine::startup_holding(uint64_t v) const { return startup_index_holding(v) >= 0; }

void Engine::remap_own_frames() {
  remap_thread_descriptors();
  remap_stack(config_.own_stack_lo, config_.own_stack_hi, true);
  for (uint64_t k = 0; k < config_.thread_stack_count && !failed(); ++k)  // issue 19: F's other threads
    remap_stack(config_.thread_stacks[2 * k], config_.thread_stacks[2 * k + 1], false);
}

void Engine::remap_stack(uint64_t lo, uint64_t hi, bool own) {
  if (!lo || hi <= lo || startup_count_ == 0) return;
  uint64_t min = ~uint64_t{0}, max = 0;  // the superseded objects' extent: most words miss it
  for (uint64_t i = 0; i < startup_count_; ++i) {
    const StartupObject& s = startup_objects_[i];
    if (!s.superseded) continue;
    if (s.addr < min) min = s.addr;
    if (s.addr + s.size > max) max = s.addr + s.size;
  }
  if (max == 0) return;
  lo = (lo > kRedZone ? lo - kRedZone : lo) & ~uint64_t{7};
  for (uint64_t at = lo; at + 8 <= hi; at += 8) {
    uint64_t* slot = reinterpret_cast<uint64_t*>(at);
    uint64_t v = *slot;
    const StartupObject* s = v >= min && v <= max ? superseded_holding(v) : nullptr;
    if (!s) continue;
    if (!s->conflicting && s->counterpart >= 4096) {
      *slot = s->counterpart + (v - s->addr);
      result_.frame_words++;
      continue;
    }
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    if (own)
      describe_stack_slot(at);
    else
      message_.text("the future version's stack word at ").hex(at).text(" (a thread other than main)");
    message_.text(" holds ").hex(v).text(", a pointer to the future version's start-up object at ").hex(s->addr);
    message_.text(" (").number(s->size).text(" bytes) that the transfer replaced, and it has no unique counterpart (");
    message_.text(s->conflicting ? "the globals that pointed to it now point to different objects"
                                 : "the global that pointed to it is now NULL");
    message_.text("): remapping it would be a guess, keeping it would serve v2's empty start-up state; "
                  "make the update point's function read the object from the global (not a local), "
                  "or add transfer code");
    if (own) advise_frame_remap(*s);
    return;
  }
}

// The fix of a frame word the transfer cannot remap. No annotation moves a local of
// F, and rewriting the loop alone is not enough (dead stack slots of start-up keep
// copies of the pointer, and the scan cannot tell them from live ones), so the line
// says what to change in the new version's source: its start-up skips creating the
// object when updating (the transfer brings the old version's into the global, as
// `if (!ttst_is_updating()) { ... }` does for inherited sockets), and the update
// point's function reads the global after TTST_UPDATE_POINT(), in the loop's body.
void Engine::advise_frame_remap(const StartupObject& s) {
  if (!advice_allowed_ || advice_.used) return;
  const dwarfmeta::image::ImageGlobal* g = s.global < dst_meta().global_count() ? &dst_meta().global_at(s.global) : nullptr;
  const char* global = g ? dst_meta().str(g->name) : "its global";
  advice_.text("in the new version, create that object at start-up only when not updating (if (!ttst_is_updating()) ");
  advice_.text(global).text(" = ...;): the transfer brings the old version's into ").text(global);
  advice_.text("; and let the update point's function read ").text(global);
  advice_.text(" after the update point, in the loop's body");
  if (g && dst_meta().type(dst_meta().strip(g->type)).kind == kPointer) {
    advice_.text(" (TTST_UPDATE_POINT(); ");
    const uint64_t before = advice_.used;
    spell_type(advice_, dst_meta(), dst_meta().type(dst_meta().strip(g->type)).target);
    if (advice_.used == before) advice_.text("void");
    advice_.text(" *p = ").text(global).text(";)");
  }
  advice_.text(", not from a local set before the loop nor a parameter; or add transfer code");
}

// Each of F's thread descriptors (glibc's struct pthread at the thread pointer: a
// non-main thread's lies at the top of its stack mapping, the main thread's apart)
// holds the thread's pthread_getspecific values: memcached 1.6 keeps each thread's
// logger there (logger_key), v2's start-up logger in F, which the transfer replaces
// by P's list of loggers (reached from a list head, not one global per logger: the
// address rule finds no unique counterpart, or none). Such a word (pointing into
// any of F's start-up heap objects) takes the value of the same word of the paired
// thread of P (same offset from its thread pointer: the same glibc in both),
// translated: F's thread gets the object P's thread had. A word P's does not give a
// translatable pointer for is left to the stack rule (remapped by offset, or refused).
//
// A superseded object named so is the thread's own, and the thread's pairing names
// its counterpart, over what the globals and frames said: memcached 1.6 links each
// thread's logger at the head of a list as the thread starts, in an order that
// varies from run to run, so the head global may pair a worker's start-up logger
// with another thread's in P while the worker's own local pairs it with its own:
// the globals' word alone was ambiguous, the thread's identity is not (a list
// position is what the head global itself now holds, written apart).
void Engine::remap_thread_descriptors() {
  const uint64_t span = config_.thread_descriptor_size & ~uint64_t{7};
  if (!span || span > 65536) return;
  for (uint64_t k = 0; k < config_.thread_pointer_count; ++k) {
    const uint64_t src_tp = config_.thread_pointers[2 * k], own_tp = config_.thread_pointers[2 * k + 1];
    const uint8_t* src = src_tp ? source_bytes(src_tp, span) : nullptr;
    if (!src || !own_tp) continue;
    for (uint64_t off = 0; off < span; off += 8) {
      uint64_t* slot = reinterpret_cast<uint64_t*>(own_tp + off);
      uint64_t past = load_uint(src + off, 8), translated = 0;
      const int64_t i = past < 4096 ? -1 : startup_index_holding(*slot);
      if (i < 0 || !translate_silently(past, &translated)) continue;
      StartupObject& s = startup_objects_[i];
      if (s.superseded) pair_by_thread(s, translated - (*slot - s.addr));
      *slot = translated;
      result_.frame_words++;
    }
  }
}

// The counterpart a thread's descriptor gives start-up object `s`; two threads'
// that disagree leave it ambiguous.
void Engine::pair_by_thread(StartupObject& s, uint64_t counterpart) {
  if (s.by_thread) {
    if (s.counterpart != counterpart) s.conflicting = true;
    return;
  }
  s.by_thread = true, s.counterpart = counterpart, s.conflicting = false;
}

// translate() without a refusal: false (and the message untouched) when v has no
// counterpart.
bool Engine::translate_silently(uint64_t v, uint64_t* out) {
  const Result saved = result_;
  const uint64_t used = message_.used;
  if (translate(v, out)) return true;
  result_ = saved, message_.used = used;
  if (used < message_.size) message_.buf[used] = 0;
  return false;
}

void Engine::describe_stack_slot(uint64_t addr) {
  uint64_t lo = config_.own_stack_lo, hi = config_.own_stack_hi;
  uint64_t fp = config_.own_frame, below = lo > kRedZone ? lo - kRedZone : lo, pc = 0;
  // Frame k spans [the CFA of frame k-1, its own CFA = fp + 16); frame 0 is the
  // runtime's update point function, each caller's pc is the return address.
  for (int depth = 0; depth < 4096 && fp >= below && fp + 16 <= hi && (fp & 7) == 0; ++depth) {
    uint64_t cfa = fp + 16;
    if (addr < cfa) {
      const dwarfmeta::image::ImageFunction* f = pc ? dst_meta().function_containing(pc - 1 - config_.dst_bias) : nullptr;
      const int64_t offset = int64_t(addr - cfa);
      const dwarfmeta::image::ImageLocal* local = f ? dst_meta().local_holding(f->low, offset) : nullptr;
      message_.text("the future version's ");
      if (local) message_.text("local '").text(dst_meta().str(local->name)).text("' (");
      message_.text("stack slot ").hex(addr);
      message_.text(local ? " at CFA" : " (CFA").signed_number(offset).text(" in the frame of ");
      message_.text(f ? dst_meta().str(f->id) : pc ? "a function without metadata" : "the update point (runtime)");
      message_.text(local ? ")" : "; no local DWARF places there: a saved register or a spilled temporary)");
      return;
    }
    pc = *reinterpret_cast<const uint64_t*>(fp + 8);
    below = cfa;
    fp = *reinterpret_cast<const uint64_t*>(fp);
  }
  message_.text("the future version's stack word at ").hex(addr).text(" (outside its frame-pointer chain)");
}

void Engine::list_superseded() {
  uint64_t n = 0;
  for (uint64_t i = 0; i < startup_count_; ++i) n += startup_objects_[i].superseded;
  if (n == 0) return;
  Superseded* list = alloc<Superseded>(n);
  if (!list) return;
  uint64_t k = 0;
  for (uint64_t i = 0; i < startup_count_; ++i) {
    const StartupObject& s = startup_objects_[i];
    if (!s.superseded) continue;
    uint64_t counterpart = s.conflicting || s.counterpart < 4096 ? 0 : s.counterpart;
    list[k++] = Superseded{s.addr, s.size, counterpart, s.freed};
  }
  result_.superseded = list, result_.superseded_count = n;
}

}  // namespace ttst::stfw::engine_detail
