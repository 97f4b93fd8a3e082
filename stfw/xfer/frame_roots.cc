// frame_roots.cc — the roots on the stack: the locals and parameters of the frames
// of the stopped threads at their update points (the update point's function and
// its callers up to main), as DWARF places them at each frame's pc — a stack slot,
// a register, a location-list entry at -O2 (dwarfmeta FramePlace) — over the frames
// the supervisor unwound with the call-frame information (stfw_task.h
// TTST_STFW_FRAMES_MAGIC, supervisor/past_frames.h).
//
// Typing: a pointer-typed local of the source's frames types what it points to,
// as a global of that type would (a server whose whole state hangs off a local of
// main: `struct server *const srv = server_init();`). Each is paired with the local
// of the same name in the frame of the same function (`function::local`, the same
// occurrence counted from main) of this process, whose type gives the destination
// pointee.
// Struct and array locals (a `struct server srv` of main) are roots too, when DWARF
// places them whole: in a stack slot, or one register for one of at most 8 bytes.
// Typing walks the local as a global of its type (members matched by name with the
// paired local's type); each pointer member is settled as a pointer local is (F's
// start-up objects superseded; backward, R's must be what F's maps back to), and
// forward F's local in its stack slot is then written in place as a global is. A local split over several places (DW_OP_piece at -O2):
// the pointer members its readable pieces hold are visited as pointer locals
// (frame_pieces.cc); an object only an unpaired one reaches is refused naming the
// local and member, with the fix (keep it in memory, or static):
// refuse_piece_locals. An unpaired struct local is
// no root either (an object only it reaches is refused naming it: refuse_lone_aggregates),
// and so is one none of whose pointers leads into the state
// (scratch: a self-pointer, a stack buffer). Unions and intptr_t members inside a struct local are bytes
// (frame_local_walk_): stack scratch such as `struct epoll_event evs[16]` holds
// stale pointers in its unions that are no state.
// Forward (in F): a paired local of F that points at one of v2's start-up objects
// supersedes it with the translated source value, so F's frames (stack words:
// engine_frames.cc; registers: the supervisor) then point at the transferred
// objects, and the start-up object is freed; any other value of F's paired local
// is overwritten with the translated source value where F keeps it (a stack slot,
// a callee-saved register), as a scalar local is. A second run (engine_delta.cc)
// follows the pointer locals that changed since the last run the same way
// (type_changed_frame_roots, settle_changed_frame_roots). Backward (in R): the translated value
// of F's local must be R's (P's) own value, else the round trip is refused naming
// the local: the comparison the memory diff cannot make for registers.
// Scalar locals (integers, enums: main's `int epfd`, `long served`) of the main
// thread's frames are state too: forward, F's paired local takes the source's
// value converted as a global's would be (in its stack slot by the agent; in a
// callee-saved register by the supervisor, from a "local_register" line); backward,
// F's must map back to R's (P's) own, else the round trip is refused naming it.
// A local v2 keeps in a caller-saved register is left as v2 has it, both ways.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {
namespace {

using dwarfmeta::image::ImageFramePlace;
using dwarfmeta::image::ImageFunction;

struct Frames {
  const ttst_stfw_frame* peer = nullptr;
  const ttst_stfw_frame* self = nullptr;
  uint32_t peer_count = 0, self_count = 0;
};

// One frames block at `in` (size bytes left); *used: its length.
bool parse_frames_at(const uint8_t* in, uint64_t size, Frames& f, uint64_t* used) {
  if (!in || size < sizeof(ttst_stfw_frames_header)) return false;
  ttst_stfw_frames_header h;
  copy(&h, in, sizeof h);
  if (h.magic != TTST_STFW_FRAMES_MAGIC || h.peer_count > TTST_STFW_FRAMES_MAX || h.self_count > TTST_STFW_FRAMES_MAX) return false;
  *used = sizeof h + (uint64_t(h.peer_count) + h.self_count) * sizeof(ttst_stfw_frame);
  if (size < *used) return false;
  f.peer = reinterpret_cast<const ttst_stfw_frame*>(in + sizeof h);
  f.self = f.peer + h.peer_count;
  f.peer_count = h.peer_count, f.self_count = h.self_count;
  return true;
}

// Every frames block of the input: the main threads', then (issue 19, after the
// threads block, stfw_task.h TTST_STFW_THREADS_MAGIC) one per other pair of threads.
// fn(frames, main) for each; stops when fn returns false.
template <class Fn>
void for_each_frames(const Config& config, Fn&& fn) {
  Frames f;
  uint64_t used = 0;
  if (!parse_frames_at(config.frames, config.frames_size, f, &used) || !fn(f, true)) return;
  uint64_t at = used;
  ttst_stfw_threads_header th;
  if (at + sizeof th > config.frames_size) return;
  copy(&th, config.frames + at, sizeof th);
  if (th.magic != TTST_STFW_THREADS_MAGIC || th.count > 4096) return;
  at += sizeof th + 16 * th.count;
  for (uint64_t k = 0; k < th.count && at < config.frames_size; ++k, at += used)
    if (!parse_frames_at(config.frames + at, config.frames_size - at, f, &used) || !fn(f, false)) return;
}

// The program function a frame runs (not the runtime's: its frames hold no state),
// and the link-time pc its places are looked up at (a caller: its call instruction).
const ImageFunction* frame_function(const View& meta, uint64_t bias, const ttst_stfw_frame* frames, uint32_t k,
                                    uint64_t* at) {
  if (frames[k].pc < bias) return nullptr;
  *at = frames[k].pc - bias - (k > 0 ? 1 : 0);
  const ImageFunction* f = meta.function_containing(*at);
  if (!f || streq(meta.str(f->file), "ttst_runtime.c")) return nullptr;
  return f;
}

// How many frames outside frame k (towards main) run the same function.
uint32_t occurrence(const View& meta, uint64_t bias, const ttst_stfw_frame* frames, uint32_t count, uint32_t k,
                    const ImageFunction* f) {
  uint32_t n = 0;
  for (uint32_t j = k + 1; j < count; ++j) {
    uint64_t at = 0;
    n += frame_function(meta, bias, frames, j, &at) == f;
  }
  return n;
}

// Each place (local or parameter) of each program frame of the source's side of
// `fr`: fn(function, frame k, the link-time pc its places are valid at, how many
// frames outside it run the same function, place); stops when fn returns false.
template <class Fn>
void each_source_place(const View& meta, uint64_t bias, const Frames& fr, Fn&& fn) {
  for (uint32_t k = 0; k < fr.peer_count; ++k) {
    uint64_t at = 0;
    const ImageFunction* f = frame_function(meta, bias, fr.peer, k, &at);
    if (!f) continue;
    const uint32_t nth = occurrence(meta, bias, fr.peer, fr.peer_count, k, f);
    for (uint32_t i = meta.first_place(f->low); i < meta.place_count(); ++i) {
      const ImageFramePlace& p = meta.place_at(i);
      if (p.function_low != f->low) break;
      if (!fn(*f, k, at, nth, p)) return;
    }
  }
}

// [addr, addr+size) lies in this process's stack as the frames span it (frame 0's rsp
// less the red zone up to the outermost CFA and its caller's words).
bool in_own_stack(const ttst_stfw_frame* frames, uint32_t count, uint64_t addr, uint64_t size) {
  uint64_t lo = (frames[0].known & (1u << 7)) ? frames[0].reg[7] - 128 : 0, hi = 0;
  for (uint32_t j = 0; j < count; ++j)
    if (frames[j].cfa > hi) hi = frames[j].cfa;
  return lo && addr >= lo && addr + size <= hi + 4096;
}

bool in_stack_slot(const ImageFramePlace& p) { return p.kind != 2; }

bool is_piece(const ImageFramePlace& p) { return place_is_piece(p); }

bool place_valid(const ImageFramePlace& p, uint64_t at) { return place_valid_at(p, at); }

// Where a place's value is: a register (reg set, addr 0) or memory at addr.
// A piece is read as the place it is in (4: a register, 6: CFA + offset, 7: a
// register + offset); kPieceOther (5) is nowhere to read.
bool place_location(const ImageFramePlace& p, const ttst_stfw_frame& f, uint64_t* addr, uint64_t* reg) {
  *addr = 0;
  const uint8_t kind = p.kind == 4 ? 2 : p.kind == 6 ? 1 : p.kind == 7 ? 3 : p.kind;
  if (kind < 1 || kind > 3) return false;
  if (kind == 1) {  // CFA + offset
    if (!f.cfa) return false;
    *addr = f.cfa + uint64_t(p.offset);
    return true;
  }
  if (p.reg > 16 || !(f.known & (uint64_t{1} << p.reg))) return false;
  if (kind == 2) return *reg = f.reg[p.reg], true;
  *addr = f.reg[p.reg] + uint64_t(p.offset);
  return true;
}

}  // namespace

// The value of one local of this process's frames (`self`: read in place, within the
// stack the frames span) or of the source's (read from the copy).
bool Engine::frame_local_value(const ImageFramePlace& p, const ttst_stfw_frame* frames, uint32_t count, uint32_t k,
                               bool self, uint64_t* value) {
  uint64_t addr = 0;
  if (!place_location(p, frames[k], &addr, value)) return false;
  if (addr == 0) return true;
  if (!self) {
    const uint8_t* bytes = source_bytes(addr, 8);
    if (!bytes) return false;
    return *value = load_uint(bytes, 8), true;
  }
  if (!in_own_stack(frames, count, addr, 8)) return false;  // not in the frames' stack
  return *value = *reinterpret_cast<const uint64_t*>(addr), true;
}

// The bytes of a struct or array local: in place (self) or in the copy of the
// source's memory; a register's value (reg_bytes) for one of at most 8 bytes.
const uint8_t* Engine::frame_local_bytes(const ImageFramePlace& p, const ttst_stfw_frame* frames, uint32_t count,
                                         uint32_t k, bool self, uint64_t size, uint8_t* reg_bytes) {
  uint64_t addr = 0, reg = 0;
  if (size == 0 || !place_location(p, frames[k], &addr, &reg)) return nullptr;
  if (addr == 0) {
    if (size > 8) return nullptr;
    store_uint(reg_bytes, 8, reg);
    return reg_bytes;
  }
  if (!self) return source_bytes(addr, size);
  if (!in_own_stack(frames, count, addr, size)) return nullptr;
  return reinterpret_cast<const uint8_t*>(addr);
}

// TTST_RENAMED_FROM(func::local, old) (annotations.h): is the source's local
// `src_name` of function `function` the destination's `dst_name`? The annotation is
// the newer version's: forward the destination's name is the new one.
bool Engine::renamed_local(const char* function, const char* src_name, const char* dst_name) const {
  char older[256], newer[256];
  Message o{older, sizeof older}, n{newer, sizeof newer};
  o.text(function).text("::").text(config_.backward ? dst_name : src_name);
  n.text(function).text("::").text(config_.backward ? src_name : dst_name);
  if (o.used + 1 >= o.size || n.used + 1 >= n.size) return false;
  const char* renamed = annotations_.older_id(newer);
  return renamed && streq(renamed, older);
}

// The frame of this process paired with the source's frame of `src_fn`.
const ImageFunction* Engine::paired_frame(const ImageFunction& src_fn, uint32_t src_occurrence,
                                          const ttst_stfw_frame* self, uint32_t self_count, uint32_t* self_frame,
                                          uint64_t* at) {
  const char* id = src_meta().str(src_fn.id);
  for (uint32_t j = 0; j < self_count; ++j) {
    const ImageFunction* f = frame_function(dst_meta(), config_.dst_bias, self, j, at);
    if (!f || !streq(dst_meta().str(f->id), id) ||
        occurrence(dst_meta(), config_.dst_bias, self, self_count, j, f) != src_occurrence)
      continue;
    return *self_frame = j, f;
  }
  return nullptr;
}

// The local of this process's frames paired with the source's local `p` of frame k
// of the source: same function ID, same occurrence from main, same name (or renamed).
const ImageFramePlace* Engine::paired_local(const ImageFramePlace& p, const ImageFunction& src_fn, uint32_t src_occurrence,
                                            const void* frames_v, uint32_t* self_frame) {
  const Frames& fr = *static_cast<const Frames*>(frames_v);
  const char* id = src_meta().str(src_fn.id);
  const char* name = src_meta().str(p.name);
  uint64_t at = 0;
  const ImageFunction* f = paired_frame(src_fn, src_occurrence, fr.self, fr.self_count, self_frame, &at);
  for (uint32_t i = f ? dst_meta().first_place(f->low) : dst_meta().place_count(); i < dst_meta().place_count(); ++i) {
    const ImageFramePlace& q = dst_meta().place_at(i);
    if (q.function_low != f->low) break;
    if (!is_piece(q) && place_valid(q, at) && (streq(dst_meta().str(q.name), name) || renamed_local(id, name, dst_meta().str(q.name))))
      return &q;
  }
  return nullptr;
}

// Calls visit(function, place, value, paired place or null, paired value) for every
// pointer-typed local of the source's frames whose value is known, and
// aggregate(function, place, bytes, paired place or null, paired bytes) for every
// struct or array local holding pointers whose bytes are known.
template <class Visit, class Aggregate>
void Engine::each_frame_root(Visit&& visit, Aggregate&& aggregate) {
  for_each_frames(config_, [&](const Frames& fr, bool main) {
    other_thread_frames_ = !main;
    each_frame_root_of(&fr, visit, aggregate);
    return !failed();
  });
  other_thread_frames_ = false;
}

template <class Visit, class Aggregate>
void Engine::each_frame_root_of(const void* frames, Visit& visit, Aggregate& aggregate) {
  const Frames& fr = *static_cast<const Frames*>(frames);
  each_source_place(src_meta(), config_.src_bias, fr, [&](const ImageFunction& fn, uint32_t k, uint64_t at,
                                                          uint32_t nth, const ImageFramePlace& p) {
    const ImageFunction* f = &fn;
    if (is_piece(p)) {  // a composite location: each pointer member a piece holds, paired by name
      PieceRoot roots[kMaxPieceRoots];
      const uint32_t n = place_valid(p, at) ? piece_roots(p, *f, nth, k, fr.peer, fr.peer_count, fr.self,
                                                          fr.self_count, roots) : 0;
      for (uint32_t r = 0; r < n && !failed(); ++r) {
        if (!roots[r].paired) continue;  // unpaired: refuse_piece_locals names it if it is an only root
        piece_member_ = roots[r].name;
        visit(*f, roots[r].p, roots[r].v, &roots[r].q, roots[r].w);
      }
      piece_member_ = nullptr;
      return !failed();
    }
    uint64_t v = 0;
    const ImageType& sty = src_meta().type(src_meta().strip(p.type));
    if (place_valid(p, at) && (sty.kind == kStruct || sty.kind == kArray)) {
      uint8_t src_reg[8], dst_reg[8];
      const uint8_t* src = has_pointer(p.type) ? frame_local_bytes(p, fr.peer, fr.peer_count, k, false, sty.size, src_reg)
                                               : nullptr;
      if (!src || !holds_state_pointer(p.type, src, 0)) return !failed();  // scratch, not state
      uint32_t j = 0;
      const uint8_t* dst = nullptr;
      const ImageFramePlace* q = paired_local(p, *f, nth, &fr, &j);
      if (q && dst_meta().type(dst_meta().strip(q->type)).kind == sty.kind)
        dst = frame_local_bytes(*q, fr.self, fr.self_count, j, true, dst_meta().type(dst_meta().strip(q->type)).size,
                                dst_reg);
      if (!q && sty.kind == kStruct) {  // whole here, maybe split in pieces in this process: member by member
        PieceRoot roots[kMaxPieceRoots];
        const uint32_t n = whole_roots(p, *f, nth, src, fr.self, fr.self_count, roots);
        for (uint32_t r = 0; r < n && !failed(); ++r) {
          piece_member_ = roots[r].name;
          if (roots[r].paired) visit(*f, roots[r].p, roots[r].v, &roots[r].q, roots[r].w);
        }
        piece_member_ = nullptr;
      }
      aggregate(*f, p, src, dst ? q : nullptr, dst);
      return !failed();
    }
    if (!place_valid(p, at) || sty.kind != kPointer || !frame_local_value(p, fr.peer, fr.peer_count, k, false, &v))
      return !failed();
    uint32_t j = 0;
    uint64_t w = 0;
    const ImageFramePlace* q = paired_local(p, *f, nth, &fr, &j);
    if (q && (dst_meta().type(dst_meta().strip(q->type)).kind != kPointer ||
              !frame_local_value(*q, fr.self, fr.self_count, j, true, &w)))
      q = nullptr;
    root_frames_ = &fr, root_self_frame_ = j;  // where q is: a second run may write it (settle_changed_frame_roots)
    visit(*f, p, v, q, w);
    root_frames_ = nullptr;
    return !failed();
  });
}

// Typing: each pointer local of the source's frames types its target like a global;
// the paired ones first, so an object an unpaired local reaches first is reached by
// no global and no paired local: transferred, it would be unreachable in this
// version (its state silently lost), so it is refused.
void Engine::type_frame_roots() {
  mode_ = kType;
  for (int paired_pass = 1; paired_pass >= 0 && !failed(); --paired_pass)
    each_frame_root([&](const ImageFunction& f, const ImageFramePlace& p, uint64_t v, const ImageFramePlace* q, uint64_t) {
      if ((q != nullptr) != (paired_pass == 1)) return;
      ImageType dst_ty = src_meta().type(src_meta().strip(p.type));
      if (q) dst_ty = dst_meta().type(dst_meta().strip(q->type));
      else dst_ty.target = 0;  // no local of this version: the pointee's counterpart by name
      uint8_t bytes[8];
      store_uint(bytes, 8, v);
      result_.frame_roots++;
      const char* local = piece_member_ ? piece_member_ : src_meta().str(p.name);  // a piece: "roots.srv"
      const uint32_t marker = frame_root_marker(src_meta().str(f.id), local);
      current_ = marker == 0xffffffffu ? kKernelWord - 1 : marker;  // names it in refusals and paths
      path_depth_ = 0;
      pointer(src_meta().type(src_meta().strip(p.type)), dst_ty, bytes, nullptr);
      if (!q && !failed() && parents_) refuse_lone_root(f, p, v, current_);
    }, [&](const ImageFunction& f, const ImageFramePlace& p, const uint8_t* src, const ImageFramePlace* q,
           const uint8_t*) {
      if (!q || paired_pass != 1) return;  // an unpaired struct local is no root (see the top)
      result_.frame_roots++;
      const uint32_t marker = frame_root_marker(src_meta().str(f.id), src_meta().str(p.name));
      current_ = marker == 0xffffffffu ? kKernelWord - 1 : marker;
      path_depth_ = 0;
      frame_local_walk_ = true;
      walk(p.type, q->type, src, nullptr);  // as a global of its type
      frame_local_walk_ = false;
    });
}

void Engine::refuse_lone_root(const ImageFunction& f, const ImageFramePlace& p, uint64_t v, uint32_t marker) {
  const int64_t index = object_holding(v);
  if (index < 0 || (objects_[index].flags & (kGlobal | kFromLibrary)) || parents_[index].parent != marker) return;
  refuse_only_root(f, p, uint32_t(index));
}

// After the sweep (engine_typing.cc): an unpaired struct or array local (no root
// itself) whose pointer reaches an object nothing else reached (no global, paired
// local or object) is that object's only root: transferred, the object would be
// unreachable in this version. Refused as a lone pointer local is.
void Engine::refuse_lone_aggregates() {
  if (!parents_) return;
  each_frame_root([](const ImageFunction&, const ImageFramePlace&, uint64_t, const ImageFramePlace*, uint64_t) {},
                  [&](const ImageFunction& f, const ImageFramePlace& p, const uint8_t* src, const ImageFramePlace* q,
                      const uint8_t*) {
                    const int64_t index = q || failed() ? -1 : lone_target(p.type, src, 0);
                    if (index >= 0) refuse_only_root(f, p, uint32_t(index));
                  });
}

// After the sweep: a local whose location is composite at its frame's pc (a struct
// split by GCC's scalar replacement, DW_OP_piece at -O2) whose pointer member has no
// readable place in the paired frame (that version's local lacks the member, keeps
// it optimised out, or in a register its frame does not recover), while that member
// points at an object nothing else reached: the local is the object's only root and
// it cannot be written there. Refused naming the local and member.
void Engine::refuse_piece_locals() {
  if (!parents_) return;
  for_each_frames(config_, [&](const Frames& fr, bool) {
    for (uint32_t k = 0; k < fr.peer_count && !failed(); ++k) {
      uint64_t at = 0;
      const ImageFunction* f = frame_function(src_meta(), config_.src_bias, fr.peer, k, &at);
      const uint32_t nth = f ? occurrence(src_meta(), config_.src_bias, fr.peer, fr.peer_count, k, f) : 0;
      for (uint32_t i = f ? src_meta().first_place(f->low) : src_meta().place_count();
           i < src_meta().place_count() && !failed(); ++i) {
        const ImageFramePlace& p = src_meta().place_at(i);
        if (p.function_low != f->low) break;
        if (!is_piece(p) || !place_valid(p, at)) continue;
        PieceRoot roots[kMaxPieceRoots];
        const uint32_t n = piece_roots(p, *f, nth, k, fr.peer, fr.peer_count, fr.self, fr.self_count, roots);
        for (uint32_t r = 0; r < n && !failed(); ++r) {
          const int64_t index = roots[r].paired ? -1 : object_holding(roots[r].v);
          if (index < 0 || uint64_t(index) >= heap_end_) continue;
          const bool reached =
              (objects_[index].flags & (kGlobal | kFromLibrary | kQueued)) || parents_[index].parent != 0xffffffffu;
          if (!reached) refuse_piece_local(*f, roots[r], uint32_t(index));
        }
      }
    }
    return !failed();
  });
}

void Engine::refuse_piece_local(const ImageFunction& f, const PieceRoot& r, uint32_t index) {
  const char* source = config_.backward ? "future" : "past";
  const char* self = config_.backward ? "past" : "future";
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: the ").text(source).text(" version's local '").text(src_meta().str(f.id));
  message_.text("::").text(r.name).text("' (frame of ").text(src_meta().str(f.id));
  message_.text(") is the only root of ");
  describe(message_, objects_[index]);
  message_.text(", a member of a local split in pieces at -O2 (DW_OP_piece: the compiler keeps its members apart, ");
  message_.text("in registers or stack slots), and the ").text(self).text(" version's frame of ").text(src_meta().str(f.id));
  message_.text(" at its update point has no readable place for that member (its local lacks it, the compiler ");
  message_.text("dropped it there, or keeps it in a register that frame does not recover): transferred, the object ");
  message_.text("would be unreachable (its state lost)");
  advise_piece_local(src_meta().str(f.id), src_meta().str(r.p.name));
}

// The first object a pointer of a struct or array local (outside unions and
// bitfields) reaches that nothing reached in the typing (no parent link); -1: none.
int64_t Engine::lone_target(uint32_t src_type, const uint8_t* src, uint32_t depth) {
  if (depth > kMaxNesting || !has_pointer(src_type)) return -1;
  const ImageType& s = src_meta().type(src_meta().strip(src_type));
  if (s.kind == kPointer) {
    const int64_t index = object_holding(load_uint(src, 8));
    if (index < 0 || uint64_t(index) >= heap_end_) return -1;
    const bool reached = (objects_[index].flags & (kGlobal | kFromLibrary | kQueued)) || parents_[index].parent != 0xffffffffu;
    return reached ? -1 : index;
  }
  if (s.kind == kArray) {
    const uint64_t n = s.count == dwarfmeta::image::kFlexibleCount ? 0 : s.count;
    const uint64_t size = type_size(src_meta(), s.target);
    for (uint64_t i = 0; i < n && size; ++i)
      if (const int64_t index = lone_target(s.target, src + i * size, depth + 1); index >= 0) return index;
    return -1;
  }
  if (s.kind != kStruct) return -1;
  const dwarfmeta::image::ImageMember* m = src_meta().members(s);
  for (uint32_t i = 0; i < s.n; ++i)
    if (const int64_t index = m[i].bit_size ? -1 : lone_target(m[i].type, src + m[i].offset, depth + 1); index >= 0)
      return index;
  return -1;
}

void Engine::refuse_only_root(const ImageFunction& f, const ImageFramePlace& p, uint32_t index) {
  const char* source = config_.backward ? "future" : "past";
  const char* self = config_.backward ? "past" : "future";
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: the ").text(source).text(" version's local '").text(src_meta().str(p.name));
  message_.text("' (frame of ").text(src_meta().str(f.id)).text(") is the only root of ");
  describe(message_, objects_[index]);
  message_.text(", and the ").text(self).text(" version's frames at its update point have no local '");
  message_.text(src_meta().str(p.name)).text("' in a frame of ").text(src_meta().str(f.id));
  message_.text(" to hold it: transferred, it would be unreachable there (its state lost); keep the update point "
                "in the same function, with that local, or hold the state in a global too");
  advise_local_rename(f, p);
}

// The fix of a lone root whose local the other version renamed: RENAMED_FROM for
// each local of the same function there of the same declared type that the source's
// function does not have (the newer version's name first).
void Engine::advise_local_rename(const ImageFunction& f, const ImageFramePlace& p) {
  const ImageFunction* other = dst_meta().function(src_meta().str(f.id));
  if (!other) return;
  uint32_t offered = 0;
  for (uint32_t i = dst_meta().first_place(other->low); i < dst_meta().place_count() && offered < 2; ++i) {
    const ImageFramePlace& q = dst_meta().place_at(i);
    if (q.function_low != other->low) break;
    const char* name = dst_meta().str(q.name);
    if (streq(name, src_meta().str(p.name)) || !same_declared_type(p.type, q.type, 0)) continue;
    bool in_source = false, seen = false;
    for (uint32_t k = src_meta().first_place(f.low); k < src_meta().place_count() && !in_source; ++k) {
      if (src_meta().place_at(k).function_low != f.low) break;
      in_source = streq(src_meta().str(src_meta().place_at(k).name), name);
    }
    for (uint32_t k = dst_meta().first_place(other->low); k < i && !seen; ++k)  // one line per name (location lists)
      seen = streq(dst_meta().str(dst_meta().place_at(k).name), name);
    if (in_source || seen) continue;
    const char* newer = config_.backward ? src_meta().str(p.name) : name;
    const char* older = config_.backward ? name : src_meta().str(p.name);
    advice_args().text(src_meta().str(f.id)).text("::").text(newer).text(", ").text(older);
    advise("RENAMED_FROM");
    ++offered;
  }
}

// After the write: forward, F's paired locals supersede the start-up objects they
// point to; backward, R's paired locals must be what F's map back to. The pointer
// members of struct and array locals likewise, matched by name.
void Engine::settle_frame_roots() {
  each_frame_root(
      [&](const ImageFunction& f, const ImageFramePlace& p, uint64_t v, const ImageFramePlace* q, uint64_t w) {
        if (q) settle_frame_pointer(f, p, v, w, q);
      },
      [&](const ImageFunction& f, const ImageFramePlace& p, const uint8_t* src, const ImageFramePlace* q,
          const uint8_t* dst) {
        if (!q) return;
        settle_aggregate(f, p, p.type, q->type, src, dst, 0);
        if (config_.backward || failed() || !in_stack_slot(*q)) return;
        // Forward, a struct local in F's stack slot is written as a global is
        // (its scalars too: `srv.n`), in place; one in a register keeps its own
        // bytes, its pointers superseding the start-up objects as locals do.
        mode_ = kWrite;
        const uint32_t marker = frame_root_marker(src_meta().str(f.id), src_meta().str(p.name));
        current_ = marker == 0xffffffffu ? kKernelWord - 1 : marker;
        path_depth_ = 0;
        frame_local_walk_ = true;
        walk(p.type, q->type, src, const_cast<uint8_t*>(dst));
        frame_local_walk_ = false;
      });
}

// The pointers inside a struct or array local: members matched by name, elements
// by index (the shorter array's), unions and bitfields left out (no pointers kept
// whole there that the walk would translate without a tag).
void Engine::settle_aggregate(const ImageFunction& f, const ImageFramePlace& p, uint32_t src_type, uint32_t dst_type,
                              const uint8_t* src, const uint8_t* dst, uint32_t depth) {
  if (failed() || depth > kMaxNesting || !has_pointer(src_type)) return;
  src_type = src_meta().strip(src_type), dst_type = dst_meta().strip(dst_type);
  const ImageType& s = src_meta().type(src_type);
  const ImageType& d = dst_meta().type(dst_type);
  if (s.kind != d.kind) return;
  if (s.kind == kPointer) return settle_frame_pointer(f, p, load_uint(src, 8), load_uint(dst, 8));
  if (s.kind == kArray) {
    const uint64_t sc = s.count == dwarfmeta::image::kFlexibleCount ? 0 : s.count;
    const uint64_t dc = d.count == dwarfmeta::image::kFlexibleCount ? 0 : d.count;
    const uint64_t ss = type_size(src_meta(), s.target), ds = type_size(dst_meta(), d.target);
    for (uint64_t i = 0; i < (sc < dc ? sc : dc) && ss && ds; ++i)
      settle_aggregate(f, p, s.target, d.target, src + i * ss, dst + i * ds, depth + 1);
    return;
  }
  if (s.kind != kStruct) return;
  const uint32_t* pairs = member_plan(src_type, dst_type, s, d);
  if (!pairs) return;
  const dwarfmeta::image::ImageMember* sm = src_meta().members(s);
  const dwarfmeta::image::ImageMember* dm = dst_meta().members(d);
  for (uint32_t i = 0; i < pairs[0] && !failed(); ++i) {
    const auto& a = sm[pairs[1 + 2 * i]];
    const auto& b = dm[pairs[2 + 2 * i]];
    if (a.bit_size || b.bit_size) continue;
    settle_aggregate(f, p, a.type, b.type, src + a.offset, dst + b.offset, depth + 1);
  }
}

// Does a struct or array local hold a pointer (outside unions and bitfields) into
// an object of the state? Only then is it a root: a local whose pointers lead
// nowhere in the state (`struct scratch s = {0, &s}`, a stack buffer) is scratch.
bool Engine::holds_state_pointer(uint32_t src_type, const uint8_t* src, uint32_t depth) {
  if (depth > kMaxNesting || !has_pointer(src_type)) return false;
  const ImageType& s = src_meta().type(src_meta().strip(src_type));
  if (s.kind == kPointer) {
    const int64_t index = object_holding(load_uint(src, 8));
    return index >= 0 && !(objects_[index].flags & kFromLibrary);
  }
  if (s.kind == kArray) {
    const uint64_t n = s.count == dwarfmeta::image::kFlexibleCount ? 0 : s.count;
    const uint64_t size = type_size(src_meta(), s.target);
    for (uint64_t i = 0; i < n && size; ++i)
      if (holds_state_pointer(s.target, src + i * size, depth + 1)) return true;
    return false;
  }
  if (s.kind != kStruct) return false;
  const dwarfmeta::image::ImageMember* m = src_meta().members(s);
  for (uint32_t i = 0; i < s.n; ++i)
    if (!m[i].bit_size && holds_state_pointer(m[i].type, src + m[i].offset, depth + 1)) return true;
  return false;
}

// A pointer value of the source's frames, translated (*t) when it points into the
// state: a library's object (a FILE) stays this process's own, as a handle
// member does (engine_library.cc), so it is not translated.
bool Engine::translate_frame_pointer(uint64_t v, uint64_t* t) {
  const int64_t index = object_holding(v);
  return index >= 0 && !(objects_[index].flags & kFromLibrary) && translate(v, t);
}

// One pointer of F's frames (a local or a member of one) paired with the source's
// (q: the paired local itself, of the main thread's frames).
void Engine::settle_frame_pointer(const ImageFunction& f, const ImageFramePlace& p, uint64_t v, uint64_t w,
                                  const ImageFramePlace* q) {
  uint64_t t = 0;
  if (!translate_frame_pointer(v, &t)) return;
  if (!config_.backward && other_thread_frames_ && t != w && !config_.thread_stack_count)
    return refuse_thread_local(f, p, w, t);  // that thread's stack would not be remapped (thread_roots.cc)
  if (config_.backward) {
    if (t != w) refuse_frame_round_trip(f, p, v, t, w);
    return;
  }
  // Forward: a start-up object F's local points to is superseded (F's frames then
  // remapped, every copy of the pointer); any other value of F's local (NULL, an
  // object of its own) is overwritten where F keeps it, as a scalar local is.
  if (startup_holding(w) || !q || other_thread_frames_ || !write_local_pointer(*q, t)) supersede(w, t);
}

// Backward: F's local `p` holds v, which maps back to t, where R's (P's) holds w.
void Engine::refuse_frame_round_trip(const ImageFunction& f, const ImageFramePlace& p, uint64_t v, uint64_t t,
                                     uint64_t w) {
  fail(TTST_STFW_STATUS_INVARIANT, "invariant: the local '").text(src_meta().str(p.name));
  message_.text("' of the frame of ").text(src_meta().str(f.id)).text(" holds ").hex(v);
  message_.text(" in the future version, which maps back to ").hex(t).text(", but the past version's holds ").hex(w);
  message_.text(": the frames differ after the round trip");
}

namespace {
// How many of the function's places are named `name` and valid at link-time pc `at`.
uint32_t places_named(const dwarfmeta::image::View& meta, uint64_t function_low, uint32_t name, uint64_t at) {
  uint32_t n = 0;
  for (uint32_t i = meta.first_place(function_low); i < meta.place_count(); ++i) {
    const ImageFramePlace& p = meta.place_at(i);
    if (p.function_low != function_low) break;
    n += !place_is_piece(p) && place_valid_at(p, at) && streq(meta.str(p.name), meta.str(name));
  }
  return n;
}

// Where v2 keeps a local the transfer can write: memory (a stack slot), or a
// callee-saved register (rbx, rbp, r12-r15: the supervisor writes it where the
// frame's value is). A caller-saved register is left alone both ways.
bool writable_place(const ImageFramePlace& q) {
  const uint8_t kind = q.kind;
  if (kind != 2) return kind == 1 || kind == 3;
  return q.reg == 3 || q.reg == 6 || (q.reg >= 12 && q.reg <= 15);
}
}  // namespace

// The scalar locals of every thread's frames (the main thread's, then each other
// pair of threads), paired by function, occurrence and name (or TTST_RENAMED_FROM)
// like the pointer locals. A local v2 keeps in a register of a thread other than
// the main one is left alone both ways: the supervisor writes the registers of F's
// main thread only.
void Engine::settle_scalar_locals() {
  for_each_frames(config_, [&](const Frames& fr, bool main) {
    each_source_place(src_meta(), config_.src_bias, fr, [&](const ImageFunction& f, uint32_t k, uint64_t at,
                                                            uint32_t nth, const ImageFramePlace& p) {
      const ImageType& sty = src_meta().type(src_meta().strip(p.type));
      if (is_piece(p) || !place_valid(p, at) || (sty.kind != kBase && sty.kind != kEnum) || sty.size == 0 ||
          sty.size > 8)
        return true;
      uint32_t j = 0;
      const ImageFramePlace* q = paired_local(p, f, nth, &fr, &j);
      if (!q || (!main && (config_.backward ? p : *q).kind == 2)) return true;  // v2's place: q forward, p backward
      const ImageType& dty = dst_meta().type(dst_meta().strip(q->type));
      if ((dty.kind != kBase && dty.kind != kEnum) || dty.size == 0 || dty.size > 8) return true;
      // Two locals of one name (`i` of two loops in their own blocks) both placed at
      // this pc: which one holds the state is not known; neither is carried.
      uint64_t self_at = 0;
      frame_function(dst_meta(), config_.dst_bias, fr.self, j, &self_at);
      if (places_named(src_meta(), f.low, p.name, at) > 1 ||
          places_named(dst_meta(), q->function_low, q->name, self_at) > 1)
        return true;
      uint8_t src_reg[8], dst_reg[8];
      const uint8_t* src = frame_local_bytes(p, fr.peer, fr.peer_count, k, false, sty.size, src_reg);
      const uint8_t* dst = frame_local_bytes(*q, fr.self, fr.self_count, j, true, dty.size, dst_reg);
      if (src && dst) settle_scalar_local(f, p, src, *q, j, dst);
      return !failed();
    });
    return !failed();
  });
}

void Engine::settle_scalar_local(const ImageFunction& f, const ImageFramePlace& p, const uint8_t* src,
                                 const ImageFramePlace& q, uint32_t self_frame, const uint8_t* dst) {
  // v2's place: forward this process's (q), backward the source's (p).
  if (!writable_place(config_.backward ? p : q)) return;
  const uint64_t size = type_size(dst_meta(), q.type);
  uint8_t converted[8];
  copy(converted, dst, size);
  mode_ = kWrite;
  const uint32_t marker = frame_root_marker(src_meta().str(f.id), src_meta().str(p.name));
  current_ = marker == 0xffffffffu ? kKernelWord - 1 : marker;
  path_depth_ = 0;
  frame_local_walk_ = true;
  walk(p.type, q.type, src, converted);
  frame_local_walk_ = false;
  if (failed()) return;
  result_.scalar_locals++;
  bool same = true;
  for (uint64_t b = 0; b < size; ++b) same = same && converted[b] == dst[b];
  if (same) return;
  if (config_.backward)
    return refuse_frame_round_trip(f, p, load_uint(src, size), load_uint(converted, size), load_uint(dst, size));
  // Forward: a stack slot of this process's frame is written in place; a register's
  // copy (frame_local_bytes' 8 bytes, its other bytes kept) goes to the supervisor.
  copy(const_cast<uint8_t*>(dst), converted, size);
  if (q.kind != 2) return;
  if (result_.local_register_count >= kMaxLocalRegisters) {
    fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: more than 64 scalar locals of the frames in registers");
    return;
  }
  local_registers_[result_.local_register_count++] = {self_frame, q.reg, load_uint(dst, 8)};
  result_.local_registers = local_registers_;
}

// The frames' pointer locals (each value, in the order visited) and struct or array
// locals holding state pointers (each hashed, FNV-1a) as this run leaves them: a
// second run (engine_delta.cc) follows those that changed and refuses when the
// roots are others.
void Engine::record_frame_roots() {
  frame_root_count_ = 0, frame_aggregate_count_ = 0;
  each_frame_root(
      [&](const ImageFunction&, const ImageFramePlace&, uint64_t v, const ImageFramePlace*, uint64_t) {
        if (frame_root_count_ < kMaxFrameRoots) frame_root_values_[frame_root_count_] = v;
        frame_root_count_++;
      },
      [&](const ImageFunction&, const ImageFramePlace& p, const uint8_t* src, const ImageFramePlace*, const uint8_t*) {
        if (frame_aggregate_count_ < kMaxFrameRoots) frame_aggregate_hashes_[frame_aggregate_count_] = local_hash(p, src);
        frame_aggregate_count_++;
      });
}

// Root n (pointer) or a (aggregate), in the order visited, against the last run's.
bool Engine::pointer_root_changed(uint32_t n, uint64_t v) const {
  return n >= kMaxFrameRoots || frame_root_values_[n] != v;
}

bool Engine::aggregate_root_changed(uint32_t a, const ImageFramePlace& p, const uint8_t* src) {
  return a >= kMaxFrameRoots || frame_aggregate_hashes_[a] != local_hash(p, src);
}

uint64_t Engine::local_hash(const ImageFramePlace& p, const uint8_t* src) {
  uint64_t h = 0xcbf29ce484222325ull;
  const uint64_t n = type_size(src_meta(), p.type);
  for (uint64_t k = 0; k < n; ++k) h = (h ^ src[k]) * 0x100000001b3ull;
  return h;
}

// A second run's typing: the pointer locals whose value changed since the last run
// type what they point to now, as the first run's type_frame_roots did, and the
// struct or array locals whose bytes changed are walked as it walks them. Refused:
// other roots than the last run's (the frames are others), a changed local with no
// local of this process to carry it (unpaired: the first run checks such a root as
// the only root of what it reaches) or split in pieces.
bool Engine::type_changed_frame_roots() {
  if (!config_.frames) return true;
  uint32_t n = 0, a = 0;
  mode_ = kType;
  each_frame_root(
      [&](const ImageFunction& f, const ImageFramePlace& p, uint64_t v, const ImageFramePlace* q, uint64_t) {
        const bool changed = pointer_root_changed(n++, v);
        if (!changed || failed()) return;
        if (!q || piece_member_) {
          delta_refuse("a pointer local of the frames changed that this version has no whole local for");
          return;
        }
        uint8_t bytes[8];
        store_uint(bytes, 8, v);
        name_frame_root(f, p);
        pointer(src_meta().type(src_meta().strip(p.type)), dst_meta().type(dst_meta().strip(q->type)), bytes, nullptr);
        type_queued();
      },
      [&](const ImageFunction& f, const ImageFramePlace& p, const uint8_t* src, const ImageFramePlace* q,
          const uint8_t*) {
        const bool changed = aggregate_root_changed(a++, p, src);
        if (!changed || failed()) return;
        if (!q) {
          delta_refuse("a struct or array local of the frames holding pointers changed that this version has no local for");
          return;
        }
        name_frame_root(f, p);
        frame_local_walk_ = true;
        walk(p.type, q->type, src, nullptr);  // as a global of its type
        frame_local_walk_ = false;
        type_queued();
      });
  if (!failed() && (n != frame_root_count_ || a != frame_aggregate_count_))
    return delta_refuse("the frames' locals are not the first run's");
  return !failed();
}

// current_ and the path name the local `p` of `f` (refusals, typing parents).
void Engine::name_frame_root(const ImageFunction& f, const ImageFramePlace& p) {
  const uint32_t marker = frame_root_marker(src_meta().str(f.id), src_meta().str(p.name));
  current_ = marker == 0xffffffffu ? kKernelWord - 1 : marker;
  path_depth_ = 0;
}

// A second run's write, after the objects: forward, each pointer local that
// changed since the last run is written in this process's frame, translated (in
// its stack slot in place; in a callee-saved register by the supervisor, from a
// "local_register" line), and each struct or array local that changed is written
// in its stack slot as the first run writes it (one F keeps in a register:
// refused); backward, every paired local is checked as the first run checks it
// (F's must map back to R's, which are the program's).
void Engine::settle_changed_frame_roots() {
  if (!config_.frames) return;
  if (config_.backward) return settle_frame_roots();
  uint32_t n = 0, a = 0;
  each_frame_root(
      [&](const ImageFunction&, const ImageFramePlace&, uint64_t v, const ImageFramePlace* q, uint64_t w) {
        const bool changed = pointer_root_changed(n++, v);
        if (changed && !failed() && q) write_changed_pointer(*q, v, w);
      },
      [&](const ImageFunction& f, const ImageFramePlace& p, const uint8_t* src, const ImageFramePlace* q,
          const uint8_t* dst) {
        const bool changed = aggregate_root_changed(a++, p, src);
        if (!changed || failed() || !q) return;
        if (!in_stack_slot(*q) || !dst) {
          delta_refuse("a struct or array local of the frames changed that this version keeps in a register");
          return;
        }
        mode_ = kWrite;
        name_frame_root(f, p);
        frame_local_walk_ = true;
        walk(p.type, q->type, src, const_cast<uint8_t*>(dst));
        frame_local_walk_ = false;
      });
}

// F's paired local q (of the frame being visited: root_frames_, root_self_frame_)
// set to t: in its stack slot in place, in a callee-saved register through the
// supervisor. False: F keeps it nowhere the transfer can write.
bool Engine::write_local_pointer(const ImageFramePlace& q, uint64_t t) {
  const Frames* fr = static_cast<const Frames*>(root_frames_);
  uint8_t reg[8];
  const uint8_t* dst = fr && writable_place(q) ? frame_local_bytes(q, fr->self, fr->self_count, root_self_frame_, true, 8, reg)
                                               : nullptr;
  if (!dst) return false;
  if (q.kind != 2) return store_uint(const_cast<uint8_t*>(dst), 8, t), true;
  if (result_.local_register_count >= kMaxLocalRegisters) {
    fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: more than 64 locals of the frames in registers");
    return true;
  }
  local_registers_[result_.local_register_count++] = {root_self_frame_, q.reg, t};
  result_.local_registers = local_registers_;
  return true;
}

void Engine::write_changed_pointer(const ImageFramePlace& q, uint64_t v, uint64_t w) {
  uint64_t t = 0;
  if (!translate_frame_pointer(v, &t)) {
    delta_refuse("a pointer local of the frames changed to point outside the state");
    return;
  }
  if (t != w && !failed() && !write_local_pointer(q, t))
    delta_refuse("a pointer local of the frames changed that this version keeps where it cannot be written");
}

}  // namespace ttst::stfw::engine_detail
