// engine_free.cc — free memory declared by what points to it (TTST_FREE_SLOTS,
// ttst_abi.h §1 kind 12), and the rule it makes possible: a pointer of the state
// into a container's free bytes is refused.
//
// A container's bytes that no sub-object holds are free memory: not copied, zeroed
// in F. That is sound only if nothing live points there: a `void *` holding an
// object no typed pointer carves (memcached's conn.item before POINTS_TO), a
// stale typed pointer that carved nothing. So every pointer the write meets into
// such bytes is refused (AMBIGUOUS, naming it), unless declared free by its holder:
//   FREE_SLOTS(holder)          the member points to free memory (a slab class's
//                               unused page tail, a pool block's unused part);
//   FREE_SLOTS_N(holder, n)     it points to an array of pointers to free slots,
//                               the first n in use (the rest: stale, not state);
//   FREE_LIST(holder, link)     it points to the first element of a free list,
//                               linked by member `link` (nginx's free connections,
//                               linked by c->data). A free element is not state but
//                               for what the program reads before it reuses it: it
//                               types nothing (its stale pointers declare no
//                               container and carve nothing: a closed connection's
//                               c->pool may point to a block freed and reused), and
//                               its pointers are translated where they can be, else
//                               carried as they are (dead), never refused.
// Free lists are found while typing, from their holders; a pass that finds more
// free elements is discarded, with the containers it declared (a stale pointer of a
// free element walked before its list was known may have declared one), and typing
// runs again knowing them.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// The holder form of member src_index (either version's annotation; the other
// version's sibling or link member found by name in the source's types).
Annotations::FreeForm Engine::free_form(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                                        int64_t* src_arg) {
  Annotations::FreeForm form = annotations_.member_free(src_newer(), src_type, src_index, src_arg);
  if (form != Annotations::kFreeNone) return form;
  int64_t dst_arg = -1;
  form = annotations_.member_free(!src_newer(), dst_type, dst_index, &dst_arg);
  if (form == Annotations::kFreeNone || form == Annotations::kFreePointer || form == Annotations::kFreeLink)
    return *src_arg = -1, form;
  const ImageType& dty = dst_meta().type(dst_type);
  const ImageType& sty = src_meta().type(src_type);
  const ImageType* d_owner = &dty;
  const ImageType* s_owner = &sty;
  if (form == Annotations::kFreeList) {  // the link is a member of the element type
    d_owner = &dst_meta().type(dst_meta().strip(dst_meta().type(dst_meta().strip(dst_meta().members(dty)[dst_index].type)).target));
    s_owner = &src_meta().type(src_meta().strip(src_meta().type(src_meta().strip(src_meta().members(sty)[src_index].type)).target));
    if (s_owner->kind != kStruct) return Annotations::kFreeNone;
  }
  const ImageMember* m = src_meta().member(*s_owner, member_name(dst_meta(), *d_owner, dst_arg));
  if (!m) return Annotations::kFreeNone;
  *src_arg = m - src_meta().members(*s_owner);
  return form;
}

// walk_struct's hook while typing: a FREE_SLOTS_N holder flags its array (the used
// count is USED_N's, set by limit_used); a FREE_LIST holder's elements are listed.
void Engine::declare_free(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                          const uint8_t* struct_src) {
  int64_t arg = -1;
  Annotations::FreeForm form = free_form(src_type, src_index, dst_type, dst_index, &arg);
  if (form != Annotations::kFreeSlotArray && form != Annotations::kFreeList && form != Annotations::kFreeRange) return;
  const ImageType& sty = src_meta().type(src_type);
  const ImageMember& holder = src_meta().members(sty)[src_index];
  uint64_t p = load_uint(struct_src + holder.offset, 8);
  if (form == Annotations::kFreeRange) {  // FREE_UPTO: [p, end) free when end is its container's end
    int64_t at = arg >= 0 ? object_holding(p) : -1;
    if (at < 0 || !(objects_[at].flags & kContainer) || objects_[at].dst_global != 0xffffffffu) return;
    Object& c = objects_[at];
    const ImageMember& end = src_meta().members(sty)[arg];
    if (load_uint(struct_src + end.offset, 8) != c.addr + c.size || p - c.addr >= 0xfffffff0ull) return;
    uint32_t from = uint32_t(p - c.addr + 1);  // used_plus1 of a container: 1 + where its free bytes start
    if (c.used_plus1 < from) c.used_plus1 = from;  // two holders: the later start (fewer bytes free)
    return;
  }
  if (form == Annotations::kFreeSlotArray) {
    ttst_heap_desc* desc = p ? base_descriptor(p) : nullptr;
    if (!desc) return;
    Object& o = objects_[reinterpret_cast<uint64_t>(desc->prev) & 0xffffffffu];
    if (!(o.flags & (kGlobal | kFromLibrary | kContainer | kCarved))) o.flags |= kFreeSlots;
    return;
  }
  const ImageMember& dst_holder = dst_meta().members(dst_meta().type(dst_type))[dst_index];
  // A `void *` holder with TTST_POINTS_TO (memcached 1.6's slabclass_t.slots, a list of
  // free items linked by item.next): its pointer type aimed at the declared element.
  ImageType pty = src_meta().type(src_meta().strip(holder.type));
  ImageType dpty = dst_meta().type(dst_meta().strip(dst_holder.type));
  uint32_t sp = annotations_.member_pointee(src_newer(), src_type, src_index);
  uint32_t dp = annotations_.member_pointee(!src_newer(), dst_type, dst_index);
  if (sp && pty.kind == kPointer) pty.target = sp;
  if (pty.kind == kPointer && dpty.kind == kPointer && (dp || sp)) dpty.target = dp ? dp : counterpart(src_meta().strip(sp));
  declare_free_list(pty, dpty, p, arg);
}

void Engine::declare_free_list(uint32_t src_holder_type, uint32_t dst_holder_type, uint64_t p, int64_t link) {
  declare_free_list(src_meta().type(src_meta().strip(src_holder_type)), dst_meta().type(dst_meta().strip(dst_holder_type)),
                    p, link);
}

// A free list from its first element p (the holder's pointer types, both
// versions): each element listed and typed as the holder's pointer would type it
// (carved in a container, or a whole block at its base), so its bytes are walked
// (quietly) instead of lying untyped in a tail; `link` indexes the source
// element type's members.
void Engine::declare_free_list(const ImageType& pty, const ImageType& dpty, uint64_t p, int64_t link) {
  uint32_t element = src_meta().strip(pty.target);
  const ImageType& ety = src_meta().type(element);
  if (pty.kind != kPointer || ety.kind != kStruct || link < 0 || dpty.kind != kPointer) return;
  const ImageMember& next = src_meta().members(ety)[link];
  for (uint64_t hops = 0; p >= 4096 && hops < (1u << 24) && !failed(); ++hops) {
    const uint8_t* e = source_bytes(p, ety.size);
    if (!e) return;  // the list's end (not in the state)
    if (!is_free_element(p)) {
      if (!add_free_element(p)) return;
    } else if (hops >= free_element_count_) {
      return;  // a cycle (every pass walks the whole list again: it types the elements)
    }
    // Typed as the holder's pointer would type it (the first is: the holder's own
    // pointer), except inside a block that is no container and not at its base
    // (nginx's connection array): pointer() would read the element's stale
    // pointers there to declare containers.
    int64_t holding = hops ? object_holding(p) : -1;
    if (holding >= 0 && ((objects_[holding].flags & kContainer) || base_descriptor(p))) {
      uint8_t word[8];
      store_uint(word, 8, p);
      pointer(pty, dpty, word, nullptr);
    }
    p = load_uint(e + next.offset, 8);
  }
}

// walk_elements' hook for a global holder (FREE_SLOTS(global), FREE_LIST(global, link)).
Annotations::FreeForm Engine::global_free_form(const Object& o, int64_t* link) {
  const char* link_name = nullptr;
  Annotations::FreeForm form = annotations_.global_free(src_meta().str(src_meta().global_at(o.src_global).id), &link_name);
  if (form == Annotations::kFreeNone && o.dst_global != 0xffffffffu)
    form = annotations_.global_free(dst_meta().str(dst_meta().global_at(o.dst_global).id), &link_name);
  *link = -1;
  if (form != Annotations::kFreeList) return form;
  const ImageType& ety = src_meta().type(src_meta().strip(src_meta().type(src_meta().strip(o.src_type)).target));
  if (const ImageMember* m = ety.kind == kStruct ? src_meta().member(ety, link_name) : nullptr)
    *link = m - src_meta().members(ety);
  return form;
}

bool Engine::add_free_element(uint64_t addr) {
  if (2 * (free_element_count_ + 1) > free_capacity_) {
    uint64_t capacity = free_capacity_ ? 2 * free_capacity_ : 1024;
    uint64_t* bigger = alloc<uint64_t>(capacity);
    if (failed()) return false;
    zero(bigger, capacity * 8);
    for (uint64_t k = 0; k < free_capacity_; ++k) {
      uint64_t a = free_elements_[k];
      if (!a) continue;
      uint64_t h = address_slot(a, capacity);
      while (bigger[h]) h = (h + 1) & (capacity - 1);
      bigger[h] = a;
    }
    free_elements_ = bigger, free_capacity_ = capacity;
  }
  uint64_t h = address_slot(addr, free_capacity_);
  while (free_elements_[h]) h = (h + 1) & (free_capacity_ - 1);
  free_elements_[h] = addr, ++free_element_count_;
  return true;
}

bool Engine::is_free_element(uint64_t addr) const {
  if (!free_capacity_) return false;
  for (uint64_t h = address_slot(addr, free_capacity_);; h = (h + 1) & (free_capacity_ - 1)) {
    if (free_elements_[h] == 0) return false;
    if (free_elements_[h] == addr) return true;
  }
}

// The source address of bytes of the copy (0: not in it).
uint64_t Engine::source_address(const uint8_t* src) const {
  if (last_region_ && src >= last_region_->local && src < last_region_->local + last_region_->size)
    return last_region_->addr + uint64_t(src - last_region_->local);
  for (uint64_t r = 0; r < config_.region_count; ++r) {
    const Region& region = config_.regions[r];
    if (src >= region.local && src < region.local + region.size) return region.addr + uint64_t(src - region.local);
  }
  return 0;
}

// Is the struct being walked (of a free list's element type) on a free list?
bool Engine::free_element_at(uint32_t src_type, uint32_t dst_type, const uint8_t* src) {
  if (!free_element_count_) return false;
  if (!annotations_.free_element_type(src_newer(), src_type) && !annotations_.free_element_type(!src_newer(), dst_type))
    return false;
  uint64_t addr = source_address(src);
  if (is_free_element(addr)) return true;
  // A whole heap block on the list is free, not only its first element: a pool
  // whose blocks are larger than the link struct (memcached 1.6's cache_t: 16 KB
  // read buffers linked through their first 8 bytes as `cache_free_s`) is walked
  // as an array of it, whose later elements are the block's stale bytes. Only for
  // a link-only element type (no room for anything but the link: a table of
  // larger elements, nginx's connections or carve.c's clients, has free and live
  // entries side by side) and a block typed as an array of it.
  if (type_size(src_meta(), src_type) > 8) return false;
  int64_t holding = object_holding(addr);
  if (holding < 0 || holding < int64_t(global_count_) || holding >= int64_t(heap_end_)) return false;
  const Object& o = objects_[holding];
  return o.addr != addr && !(o.flags & kContainer) && o.src_type &&
         src_meta().strip(o.src_type) == src_meta().strip(src_type) && is_free_element(o.addr);
}

// A free element's pointer: translated if it can be, else carried as it is (a
// dead value: the program overwrites it before any use); never a refusal.
bool Engine::translate_quietly(uint64_t v, uint64_t* out) {
  const Result saved = result_;
  const uint64_t used = message_.used;
  if (translate(v, out)) return true;
  result_ = saved, message_.used = used;
  if (used < message_.size) message_.buf[used] = 0;
  *out = v;
  result_.dead_pointers++;
  return false;
}

// Is v, a pointer into `container`, held by bytes the transfer carries: a
// sub-object's extent, a header wrapper's header, or the container's end?
bool Engine::held_by_sub_object(uint64_t v, const Object& container) const {
  if (v == container.addr + container.size) return true;
  if (container.dst_global != 0xffffffffu && v - container.addr < container.dst_global) return true;
  // Most such pointers hold a sub-object's start (memcached's items link item to item):
  // one probe of the carved table instead of a search of the sorted sub-objects.
  if (const int64_t at = carved_at(v); at >= 0) return &objects_[objects_[at].src_global] == &container;
  uint32_t lo = heap_end_, hi = object_count_;  // sub-objects, sorted by address: the last at or below v
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (objects_[mid].addr <= v) lo = mid + 1;
    else hi = mid;
  }
  if (lo == heap_end_) return false;
  const Object& s = objects_[lo - 1];
  return &objects_[s.src_global] == &container && v - s.addr < s.size;
}

// A holder of containers (TTST_CONTAINER / TTST_SLAB on a member, either version):
// its pointers are the containers themselves, at their bases.
bool Engine::holds_containers(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index) const {
  int64_t chunk = -1, count = -1;
  return annotations_.container_member(src_newer(), src_type, src_index, &chunk, &count) ||
         annotations_.container_member(!src_newer(), dst_type, dst_index, &chunk, &count);
}

void Engine::refuse_free_byte_pointer(uint64_t v, const Object& container) {
  fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  message_.text(" = ")
      .hex(v)
      .text(" points to +")
      .number(v - container.addr)
      .text(" of ");
  describe(message_, container);
  message_.text(
      ", bytes of that container no typed pointer carves (free memory, not transferred): declare what it "
      "points to (TTST_POINTS_TO) or that it points to free memory (TTST_FREE_SLOTS, TTST_FREE_LIST)");
  advise_current("FREE_SLOTS");
}

// Before the typing passes: which heap objects are containers already (declared
// by globals and header wrappers).
bool Engine::snapshot_containers() {
  initial_container_ = alloc<uint8_t>(heap_end_ + 1);
  if (failed()) return false;
  for (uint32_t i = 0; i < heap_end_; ++i) initial_container_[i] = (objects_[i].flags & kContainer) != 0;
  initial_container_count_ = container_count_;
  return true;
}

// A pass found more free elements: the containers it declared are forgotten (a
// stale pointer of a then unknown free element may have declared one); the next
// pass declares again those that live pointers hold.
void Engine::undeclare_pass_containers() {
  for (uint32_t i = global_count_; i < heap_end_; ++i) {
    Object& o = objects_[i];
    if (!(o.flags & kContainer) || initial_container_[i]) continue;
    o.flags &= ~kContainer, o.src_global = 0xffffffffu, o.dst_global = 0xffffffffu;
  }
  container_count_ = initial_container_count_;
}

// A sub-object carved in a container's free part (TTST_FREE_UPTO): a live object
// where the allocator says nothing lives, or a stale pointer that carved it.
bool Engine::refuse_in_free_part(const Object& o, uint64_t free_from) {
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  describe(message_, o);
  message_.text(" lies in its container's free part (from +")
      .number(free_from)
      .text(", TTST_FREE_UPTO): a typed pointer reaches bytes its allocator says are unused; needs transfer code");
  return true;
}

}  // namespace ttst::stfw::engine_detail
