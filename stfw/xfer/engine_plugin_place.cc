// engine_plugin_place.cc — where a carved sub-object goes when its plugin says so
// (TTST_XFER_TYPE_PLACE, ttst_xfer_place): a sub-object of a container (memcached's
// item in its slab page) whose new layout no longer fits its chunk is moved by the
// user's code to free room of another container (a free chunk of a larger class),
// and the backward run moves it back. The engine keeps it sound:
//  - a place function runs in the map phase, before anything is written, for every
//    carved sub-object of its type; it may put the sub-object's destination at an
//    address inside a container's destination (named in this process, or as a
//    source address mapped by its container's offset);
//  - after all calls, no two sub-objects' destinations may overlap (a placement
//    over a live sub-object is refused, naming both);
//  - every pointer into a sub-object written by a function whose layout differs, or
//    placed elsewhere, maps through that sub-object: into its struct by member
//    (map_offset), into its flexible tail by the tail's offset behind the new
//    struct (the function keeps the tail right after the header); a pointer to a
//    container as such (a holder's, slab_list) still maps to the container's base.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"
#include "stfw/xfer/engine_plugin_call.h"

namespace ttst::stfw::engine_detail {
namespace {

using Range = PlaceRange;

// Heapsort of ranges by address (no libc in the agent).
void sift(Range* r, uint64_t n, uint64_t i) {
  for (;;) {
    uint64_t big = i, l = 2 * i + 1, rr = l + 1;
    if (l < n && r[l].addr > r[big].addr) big = l;
    if (rr < n && r[rr].addr > r[big].addr) big = rr;
    if (big == i) return;
    Range t = r[i];
    r[i] = r[big], r[big] = t, i = big;
  }
}

void sort_ranges(Range* r, uint64_t n) {
  for (uint64_t i = n / 2; i-- > 0;) sift(r, n, i);
  for (uint64_t end = n; end > 1; --end) {
    Range t = r[0];
    r[0] = r[end - 1], r[end - 1] = t;
    sift(r, end - 1, 0);
  }
}

}  // namespace

// The PLACE slot of a stripped source type, or -1.
int32_t Engine::plugin_place_slot(uint32_t t) const {
  for (uint32_t s = 0; s < plugin_slot_count_; ++s)
    if (plugin_slots_[s].entry->kind == TTST_XFER_KIND_PLACE)
      for (uint32_t k = 0; k < plugin_slots_[s].type_count; ++k)
        if (plugin_slots_[s].types[k] == t) return int32_t(s);
  return -1;
}

// Map phase, after place_carved: the place functions, then the overlap check.
bool Engine::plugin_place() {
  bool any = false;
  for (uint32_t s = 0; s < plugin_slot_count_; ++s) any |= plugin_slots_[s].entry->kind == TTST_XFER_KIND_PLACE;
  if (!any) return !failed();
  container_ranges_ = alloc<Range>(heap_end_ - global_count_ + 1);
  if (failed()) return false;
  container_range_count_ = 0;
  for (uint32_t i = global_count_; i < heap_end_; ++i)
    if ((objects_[i].flags & kContainer) && objects_[i].dst_addr)
      container_ranges_[container_range_count_++] = {objects_[i].dst_addr, objects_[i].dst_size, i};
  sort_ranges(container_ranges_, container_range_count_);
  for (uint32_t i = heap_end_; i < object_count_ && !failed(); ++i) {
    Object& o = objects_[i];
    int32_t s = plugin_place_slot(src_meta().strip(o.src_type));
    const uint8_t* src = s < 0 ? nullptr : source_bytes(o.addr, o.size);
    if (!src) continue;
    ttst_xfer x{this, plugin_slots_[s].entry, i, o.src_type, o.dst_type, src,
                reinterpret_cast<uint8_t*>(o.dst_addr), 0, nullptr, o.size, o.dst_size, o.addr, 1};
    current_ = i;
    call_plugin(x);
  }
  return !failed() && check_placements();
}

// No two sub-objects' destinations overlap (after the place functions).
bool Engine::check_placements() {
  uint32_t n = object_count_ - heap_end_, used = 0;
  Range* r = alloc<Range>(n + 1);
  if (failed()) return false;
  for (uint32_t i = heap_end_; i < object_count_; ++i)
    if (objects_[i].dst_addr && objects_[i].dst_size) r[used++] = {objects_[i].dst_addr, objects_[i].dst_size, i};
  sort_ranges(r, used);
  for (uint32_t k = 1; k < used; ++k) {
    if (r[k - 1].addr + r[k - 1].size <= r[k].addr) continue;
    const Object& a = objects_[r[k - 1].index];
    const Object& b = objects_[r[k].index];
    const Object& moved = a.dst_global == kCarvedOwnPlace ? a : b;
    fail(TTST_STFW_STATUS_INVARIANT, "invariant: the transfer plugin placed ");
    describe(message_, moved);
    message_.text(" over ");
    describe(message_, &moved == &a ? b : a);
    message_.text(" (their destinations overlap): a place function must choose free room");
    return false;
  }
  return true;
}

// ttst_xfer_place: the current sub-object's destination at `addr` (this process's,
// or with `source` a source address mapped by its container's offset), `bytes` long.
int Engine::api_place(ttst_xfer* x, uint64_t addr, uint64_t bytes, int source) {
  Engine* e = x->engine;
  if (e->failed()) return -1;
  if (!x->placing) {
    e->fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the transfer plugin's ")
        .text(x->entry->name)
        .text(" called ttst_xfer_place outside a place function (TTST_XFER_TYPE_PLACE)");
    return -1;
  }
  uint64_t local = addr;
  if (source) {
    int64_t c = addr < 4096 ? -1 : e->object_holding(addr);
    const Object* co = c >= 0 ? &e->objects_[c] : nullptr;
    if (!co || !(co->flags & kContainer) || !co->dst_addr || addr - co->addr + bytes > co->dst_size)
      return api_fail(x, "ttst_xfer_place_source: the address is not room inside a container of the source");
    local = co->dst_addr + (addr - co->addr);
  }
  uint64_t lo = 0, hi = e->container_range_count_;  // the last container starting at or below local
  while (lo < hi) {
    uint64_t mid = (lo + hi) / 2;
    if (e->container_ranges_[mid].addr <= local) lo = mid + 1;
    else hi = mid;
  }
  const Range* c = lo ? &e->container_ranges_[lo - 1] : nullptr;
  if (!c || bytes == 0 || local - c->addr + bytes > c->size)
    return api_fail(x, "ttst_xfer_place: the destination is not room inside a container of this process");
  Object& o = e->objects_[x->object];
  o.dst_addr = local, o.dst_size = bytes, o.dst_global = kCarvedOwnPlace;
  e->own_places_ = true;
  return 0;
}

// The sub-object of `container` holding v (sub-objects are sorted by address), or -1.
int64_t Engine::sub_object_holding(uint64_t v, const Object& container) const {
  uint32_t lo = heap_end_, hi = object_count_;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (objects_[mid].addr <= v) lo = mid + 1;
    else hi = mid;
  }
  if (lo == heap_end_) return -1;
  const Object& s = objects_[lo - 1];
  return &objects_[s.src_global] == &container && v - s.addr < s.size ? int64_t(lo - 1) : -1;
}

// translate_into_object's hook for containers: a pointer into a sub-object that maps
// through itself (reshaped or placed). True when it handled v (*ok: mapped).
bool Engine::translate_own_place(uint64_t v, const Object& container, uint64_t* out, bool* ok) {
  if (!own_places_ || container_ref_) return false;
  int64_t si = sub_object_holding(v, container);
  if (si < 0 || objects_[si].dst_global != kCarvedOwnPlace) return false;
  const Object& s = objects_[si];
  uint64_t off = v - s.addr, src_type_bytes = type_size(src_meta(), s.src_type), mapped = 0;
  uint64_t dst_type_bytes = type_size(dst_meta(), s.dst_type);
  if (off < src_type_bytes) *ok = map_offset(s.src_type, s.dst_type, off, &mapped);
  else *ok = (mapped = off - src_type_bytes + dst_type_bytes) <= s.dst_size;
  if (!*ok) {
    if (!failed()) target_missing(v, s);
    return true;
  }
  *out = s.dst_addr + mapped;
  return true;
}

// ttst_xfer_source_global: the source's bytes of a global named by its state ID.
const void* Engine::api_source_global(ttst_xfer* x, const char* id, uint64_t* size) {
  Engine* e = x->engine;
  int32_t g = id ? e->plugin_global(e->src_meta(), id) : -1;
  for (uint32_t i = 0; g >= 0 && i < e->global_count_; ++i) {
    const Object& o = e->objects_[i];
    if (!(o.flags & kGlobal) || o.src_global != uint32_t(g)) continue;
    if (size) *size = o.size;
    return e->source_bytes(o.addr, o.size);
  }
  if (size) *size = 0;
  return nullptr;
}

}  // namespace ttst::stfw::engine_detail
