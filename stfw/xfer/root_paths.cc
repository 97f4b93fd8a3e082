// root_paths.cc — a refused object named by the way the program reaches it: a path
// from a root (a global or a local of the frames at the update point) through the
// pointers the typing followed, in C syntax:
//   main::srv->items[3]    g_server->items[0]->key    server.db[0].dict->ht[0].table[913]
// so a user can find the object in the source (a heap object's number and site say
// where it was allocated, not what holds it).
// While typing, the first pointer that reaches each object is remembered (its
// holder and the offset in it); the path is rebuilt from those links on a refusal.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

namespace {
constexpr uint32_t kNoParent = 0xffffffffu;
constexpr int kMaxHops = 24;
}  // namespace

void Engine::prepare_root_paths() {
  if (!parents_) parents_ = alloc<ParentLink>(object_count_);
  if (!parents_) return;
  for (uint32_t i = 0; i < object_count_; ++i) parents_[i] = ParentLink{kNoParent, 0};
}

uint32_t Engine::frame_root_marker(const char* function, const char* local) {
  if (root_local_count_ >= kMaxRootLocals) return kNoParent;
  root_locals_[root_local_count_][0] = function, root_locals_[root_local_count_][1] = local;
  return kFrameRootBase + root_local_count_++;
}

// The first pointer (at `src`, inside the object being walked) that reaches object `index`
// (a heap object: parents_ holds the table's heap part; a sub-object is reached as its
// container was, root_paths below).
void Engine::note_reached(uint32_t index, const uint8_t* src) {
  if (!parents_ || index >= heap_end_ || parents_[index].parent != kNoParent || current_ == kKernelWord) return;
  uint32_t offset = 0;
  if (current_ < object_count_) {
    const Object& holder = objects_[current_];
    const uint8_t* base = source_bytes(holder.addr, holder.size);
    if (!base || src < base || uint64_t(src - base) >= holder.size) return;
    offset = uint32_t(src - base);
  }
  parents_[index] = ParentLink{current_, offset};
}

// The link that reaches object `at`: its own (a heap object), or its container's when
// that pointer points at the sub-object's start (a carved sub-object); none else.
const Engine::ParentLink* Engine::link_reaching(uint32_t at) {
  if (at >= object_count_) return nullptr;
  const Object& o = objects_[at];
  const uint32_t holder_of = (o.flags & kCarved) ? o.src_global : at;
  if (holder_of >= heap_end_ || parents_[holder_of].parent == kNoParent) return nullptr;
  const ParentLink& link = parents_[holder_of];
  if (!(o.flags & kCarved)) return &link;
  if (link.parent >= object_count_) return nullptr;  // a frame's local: its word is not at hand
  const uint8_t* word = source_bytes(objects_[link.parent].addr + link.offset, 8);
  return word && load_uint(word, 8) == o.addr ? &link : nullptr;
}

// The members and elements of a value of `type` down to byte `off` (where the
// pointer is): ".a.b[2]" (`arrow`: the value is a pointer's target, so a member
// reads "->a"; an element index needs no arrow).
void Engine::member_path(Message& to, uint32_t type, uint64_t off, bool arrow, int depth) {
  type = src_meta().strip(type);
  const ImageType& t = src_meta().type(type);
  if (depth > 16) return;
  if (t.kind == kStruct || t.kind == kUnion) {
    for (uint32_t i = 0; i < src_meta().member_count(t); ++i) {
      const ImageMember& m = src_meta().members(t)[i];
      const uint64_t size = type_size(src_meta(), m.type);
      if (m.bit_size || off < m.offset || off - m.offset >= (size ? size : 1)) continue;
      to.text(arrow ? "->" : ".").text(src_meta().str(m.name));
      return member_path(to, m.type, off - m.offset, false, depth + 1);
    }
    to.text(arrow ? "->" : "").text("+").number(off);
    return;
  }
  if (t.kind == kArray) {
    const uint64_t elem = type_size(src_meta(), t.target);
    if (!elem) return;
    to.text("[").number(off / elem).text("]");
    return member_path(to, t.target, off % elem, false, depth + 1);
  }
  if (off) to.text(arrow ? "->" : "").text("+").number(off);
}

// " (reached as PATH)" for object `index`, or nothing when no path is known (or it is
// longer than kMaxHops: then, with `tail_if_deep`, the path's last hops from where they start).
void Engine::describe_root_path(Message& to, uint32_t index, bool tail_if_deep) {
  if (!parents_ || !link_reaching(index)) return;
  uint32_t chain[kMaxHops], offsets[kMaxHops];  // chain[k] is reached by a pointer at offsets[k] in chain[k + 1]
  int n = 0;
  uint32_t at = index;
  while (n < kMaxHops) {
    const ParentLink* link = link_reaching(at);
    if (!link) break;
    chain[n] = at, offsets[n++] = link->offset;
    at = link->parent;
    if (at < object_count_ && (objects_[at].flags & kGlobal)) break;
  }
  if (n == kMaxHops && !tail_if_deep) return;  // too deep (or a cycle): no path rather than a wrong one
  root_path_written_ = true;
  if (n == kMaxHops) {  // its last hops only, from an object that far from a root (each hop is true)
    to.text(" (reached, more than ").number(kMaxHops).text(" hops from a root, as ");
    describe(to, objects_[chain[n - 1]]);
  } else if (at >= kFrameRootBase && at - kFrameRootBase < root_local_count_) {
    to.text(" (reached as ").text(root_locals_[at - kFrameRootBase][0]).text("::").text(root_locals_[at - kFrameRootBase][1]);
  } else if (at < object_count_ && (objects_[at].flags & kGlobal)) {
    to.text(" (reached as ").text(src_meta().str(src_meta().global_at(objects_[at].src_global).name));
    member_path(to, objects_[at].src_type, offsets[n - 1], false, 0);
  } else if (at < object_count_) {  // reached by no pointer: typed by its site, or a sub-object
    to.text(" (reached as ");
    describe(to, objects_[at]);
    chain[n++] = at;
  } else {
    to.text(" (reached as ?");
  }
  for (int k = n - 1; k > 0; --k) {  // the hop from chain[k] (a heap object or sub-object) to chain[k - 1]
    const Object& holder = objects_[chain[k]];
    const uint64_t off = offsets[k - 1];
    if (!holder.src_type) {
      to.text("->+").number(off);
      continue;
    }
    const uint64_t elem = type_size(src_meta(), holder.src_type);
    if (elem && holder.size > elem) {
      to.text("[").number(off / elem).text("]");
      member_path(to, holder.src_type, off % elem, false, 0);
    } else {
      member_path(to, holder.src_type, off, true, 0);
    }
  }
  to.text(")");
}

}  // namespace ttst::stfw::engine_detail
