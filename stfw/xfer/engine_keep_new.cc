// engine_keep_new.cc — start-up state the destination keeps (TTST_KEEP_NEW, ttst_abi.h
// §1 kind 11): a global's value in this process (F: v2's start-up value; R: P's) is
// not overwritten, and the *kept graph* — what the source's value of the global
// reaches through typed pointers — is not transferred either. Pointers of the
// transferred state into the source's kept graph are translated to its
// counterparts in this process's kept graph, found by walking both graphs in
// parallel from the root: the same member (by name), the same array element, the
// same pointer. Run by both directions, so the backward run pairs F's graph with
// R's (= P's) the same way and a pointer that went to the wrong counterpart comes
// back to the wrong place (the diff sees it).
//
// Pairing, per pointer met at the same path in both graphs (source value vs, this
// process's value vd):
//  - into a heap block of the source, at the start of an element of the pointer's
//    type (a whole array of it): the whole block pairs with the block of this
//    process holding vd at the same element, which must be a live heap block of
//    the same allocation site ID (when both sites are known): elements pair by index;
//  - anywhere else (inside a carved container — a pool block whose layout v2 may
//    change —, or inside an untyped block): the pointed-to value [vs, vs + its
//    extent) pairs with [vd, vd + the size of v2's type) (structural only: such
//    values have no allocation ID); an untyped heap block holding one is kept whole;
//  - globals, functions, literals: not part of the graph (paired by ID anyway).
// A source object met twice with different counterparts, a NULL or foreign vd, or
// elements past the end of this process's array have no counterpart: they are
// still kept (not transferred) and a pointer into them is refused, naming them.
// void * / char * holding other types are followed only where TTST_POINTS_TO says
// what they hold; unions and members with a rule are not followed. Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// After typing, before mapping: both graphs of every KEEP_NEW global walked.
bool Engine::pair_kept_graphs() {
  if (!index_own_blocks()) return false;
  kept_capacity_ = 64;
  kept_ = alloc<KeptRange>(kept_capacity_);
  kept_slots_capacity_ = 1024;
  kept_slots_ = alloc<uint32_t>(kept_slots_capacity_);
  kept_work_ = alloc<uint32_t>(kept_capacity_);
  if (failed()) return false;
  for (uint64_t i = 0; i < kept_slots_capacity_; ++i) kept_slots_[i] = 0xffffffffu;
  mark_transfer_anchors();
  for (uint32_t g = 0; g < global_count_ && !failed(); ++g) {
    Object& o = objects_[g];
    if (o.dst_global == 0xffffffffu) continue;
    const char* id = src_meta().str(src_meta().global_at(o.src_global).id);
    const char* dst_id = dst_meta().str(dst_meta().global_at(o.dst_global).id);
    if (!annotations_.global_keep_new(id) && !annotations_.global_keep_new(dst_id)) continue;
    o.flags |= kKept;
    kept_root_ = g, current_ = g, path_depth_ = 0, kept_from_ = 0;
    kept_value(o.src_type, o.dst_type, source_bytes(o.addr, o.size), reinterpret_cast<const uint8_t*>(o.dst_addr), 0);
    while (kept_work_count_ && !failed()) walk_kept_range(kept_work_[--kept_work_count_]);
  }
  const char *id, *path;
  for (uint32_t k = 0; annotations_.keep_new_at(k, &id, &path) && !failed(); ++k) pair_kept_member(id, path);
  if (failed()) return false;
  sort_kept();
  if (!check_kept_tails()) return false;  // engine_containers.cc
  for (uint32_t i = 0; i < kept_count_; ++i) kept_ranges_paired_ += kept_[i].paired;
  result_.kept = kept_ranges_paired_, result_.kept_unpaired = kept_count_ - kept_ranges_paired_;
  return !failed();
}

// TTST_KEEP_NEW_AT(global, path): the root is the member `path` of the struct
// `global` points to, in P (its value) and here (this process's start-up value,
// read before anything is written). The global and its struct are transferred as
// usual. A pointer member then translates to this process's own root through the
// pairing; any other member (an embedded array header such as nginx's
// `ngx_array_t listening`: its `void *elts` and its counts) is walked as a value and
// its bytes get this process's start-up value back after the write
// (restore_kept_members): both ways the member keeps v2's start-up value.
void Engine::pair_kept_member(const char* id, const char* path) {
  for (uint32_t g = 0; g < global_count_; ++g) {
    Object& o = objects_[g];
    if (o.dst_global == 0xffffffffu) continue;
    if (!streq(src_meta().str(src_meta().global_at(o.src_global).id), id) &&
        !streq(dst_meta().str(dst_meta().global_at(o.dst_global).id), id))
      continue;
    uint32_t st = src_meta().strip(o.src_type), dt = dst_meta().strip(o.dst_type);
    if (src_meta().type(st).kind != kPointer || dst_meta().type(dt).kind != kPointer) break;
    const uint8_t* sv = source_bytes(o.addr, 8);
    uint64_t vs = sv ? load_uint(sv, 8) : 0, vd = load_uint(reinterpret_cast<const uint8_t*>(o.dst_addr), 8);
    uint64_t soff = 0, doff = 0;
    uint32_t smember = member_at_path(src_meta(), src_meta().type(st).target, path, &soff);
    uint32_t dmember = member_at_path(dst_meta(), dst_meta().type(dt).target, path, &doff);
    if (!smember || !dmember || src_meta().type(smember).kind != dst_meta().type(dmember).kind) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: TTST_KEEP_NEW_AT(")
          .text(id)
          .text(", ")
          .text(path)
          .text(") names no member of the same kind in what the global points to in both versions: fix the annotation");
      return;
    }
    uint64_t ssize = type_size(src_meta(), smember), dsize = type_size(dst_meta(), dmember);
    const uint8_t* sroot = vs >= 4096 ? source_bytes(vs + soff, ssize) : nullptr;
    if (!sroot) return;  // no struct in P (yet): nothing of P's to pair
    if (!note_kept_holder(vs, type_size(src_meta(), src_meta().type(st).target), vd >= 4096 ? vd : 0)) return;
    kept_root_ = g, current_ = g, path_depth_ = 0, kept_from_ = 0, kept_slot_ = nullptr;
    const uint8_t* droot = vd >= 4096 ? reinterpret_cast<const uint8_t*>(vd + doff) : nullptr;
    if (src_meta().type(smember).kind == kPointer) {
      kept_pointer(load_uint(sroot, 8), src_meta().strip(src_meta().type(smember).target), droot ? load_uint(droot, 8) : 0,
                   dst_meta().strip(dst_meta().type(dmember).target));
    } else {
      kept_value(smember, dmember, sroot, droot, 0);
      if (droot && !save_kept_member(vs, doff, droot, dsize)) return;
    }
    while (kept_work_count_ && !failed()) walk_kept_range(kept_work_[--kept_work_count_]);
    return;
  }
}

// Run-time state the kept graph must not take in: the heap blocks that transferred
// pointer globals and the members of KEEP_NEW_AT structs other than the roots point
// to (nginx: `cycle->connections`, `read_events`, `write_events`; the
// configuration's `ls->connection` points into them). One level, typed pointers,
// blocks that are not containers (a container such as the cycle's pool block holds
// configuration too). Only blocks reached from the kept roots alone are kept.
void Engine::mark_transfer_anchors() {
  for (uint32_t g = 0; g < global_count_; ++g) {
    const Object& o = objects_[g];
    if (o.dst_global == 0xffffffffu || (o.flags & (kReadonly | kRuleMask))) continue;
    const char* id = src_meta().str(src_meta().global_at(o.src_global).id);
    if (annotations_.global_keep_new(id)) continue;
    const char* at_id;
    const char* path;
    bool holder = false;
    for (uint32_t k = 0; annotations_.keep_new_at(k, &at_id, &path); ++k) holder |= streq(at_id, id);
    const uint8_t* src = source_bytes(o.addr, o.size);
    if (!src) continue;
    uint32_t t = src_meta().strip(o.src_type);
    if (src_meta().type(t).kind != kPointer) continue;
    uint64_t v = load_uint(src, 8);
    int64_t index = v >= 4096 ? object_holding(v) : -1;
    if (index >= 0 && !(objects_[index].flags & (kGlobal | kContainer)) && objects_[index].addr == v)
      objects_[index].flags |= kTransferAnchor;
    if (!holder || v < 4096) continue;
    uint32_t pointee = src_meta().strip(src_meta().type(t).target);
    if (const uint8_t* s = source_bytes(v, type_size(src_meta(), pointee))) anchor_pointers_in(pointee, s, id, 0);
  }
}

// The pointer members of a KEEP_NEW_AT struct (nested structs too) but its roots.
void Engine::anchor_pointers_in(uint32_t type, const uint8_t* src, const char* holder_id, int depth) {
  const ImageType& ty = src_meta().type(src_meta().strip(type));
  if (ty.kind != kStruct || depth > 2) return;
  for (uint32_t i = 0; i < src_meta().member_count(ty); ++i) {
    const ImageMember& m = src_meta().members(ty)[i];
    if (m.bit_size) continue;
    const char* name = src_meta().str(m.name);
    const char* at_id;
    const char* path;
    bool root = false;
    for (uint32_t k = 0; depth == 0 && annotations_.keep_new_at(k, &at_id, &path); ++k)
      root |= streq(at_id, holder_id) && streq(path, name);
    if (root) continue;
    uint32_t mt = src_meta().strip(m.type);
    if (src_meta().type(mt).kind == kStruct) {
      anchor_pointers_in(mt, src + m.offset, holder_id, depth + 1);
      continue;
    }
    if (src_meta().type(mt).kind != kPointer || src_meta().strip(src_meta().type(mt).target) == 0) continue;
    uint64_t v = load_uint(src + m.offset, 8);
    int64_t index = v >= 4096 ? object_holding(v) : -1;
    if (index >= 0 && !(objects_[index].flags & (kGlobal | kContainer)) && objects_[index].addr == v)
      objects_[index].flags |= kTransferAnchor;
  }
}

// The struct holding KEEP_NEW_AT roots is transferred: the kept graph that points
// back at it (nginx's configuration holds `ngx_cycle_t *cycle` in places) does not
// take it in (that would keep the run-time state it holds), and that pointer keeps
// v2's start-up target, as every pointer from the kept graph into transferred state.
bool Engine::note_kept_holder(uint64_t addr, uint64_t size, uint64_t dst) {
  for (uint32_t i = 0; i < kept_holder_count_; ++i)
    if (kept_holders_[i].addr == addr) return true;
  if (kept_holder_count_ == kMaxKeptMembers) {
    fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: TTST_KEEP_NEW_AT names more than 32 structs");
    return false;
  }
  kept_holders_[kept_holder_count_++] = KeptHolder{addr, size, dst};
  return true;
}

bool Engine::in_kept_holder(uint64_t v) const {
  for (uint32_t i = 0; i < kept_holder_count_; ++i)
    if (v - kept_holders_[i].addr < kept_holders_[i].size) return true;
  return false;
}

// A kept member that is not a pointer: this process's start-up bytes of it, put
// back over the transferred struct (at the destination of P's struct at src) after
// the write.
bool Engine::save_kept_member(uint64_t src, uint64_t offset, const uint8_t* bytes, uint64_t size) {
  if (kept_member_count_ == kMaxKeptMembers) {
    fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: more than 32 TTST_KEEP_NEW_AT annotations on members that are not pointers");
    return false;
  }
  uint8_t* saved = alloc<uint8_t>(size);
  if (failed()) return false;
  copy(saved, bytes, size);
  kept_members_[kept_member_count_++] = KeptMember{src, offset, size, saved};
  return true;
}

void Engine::finish_kept_write() {
  if (!config_.backward) carry_kept_carved();
  restore_kept_members();
  if (!config_.backward) retarget_runtime_pointers();  // engine_keep_runtime.cc
}

// Forward: a kept sub-object carved in a container that is transferred (nginx: v1's
// configuration in the cycle's pool block, whose header and cycle go over) is not
// state, but its bytes are carried into F's block as they are, dead: nothing in F
// points at them (every pointer into the kept graph went to v2's counterpart), and
// the backward run, which finds no sub-object there, carries them back into R with
// the tail or leaves R's bytes (free memory), so R == P.
void Engine::carry_kept_carved() {
  for (uint32_t i = heap_end_; i < object_count_; ++i) {
    const Object& o = objects_[i];
    if (!(o.flags & kKept) || !(o.flags & kCarved) || !o.dst_addr || !o.dst_size) continue;
    if (into_counterpart(o)) continue;  // its block is this process's: its own value stays
    const uint8_t* src = source_bytes(o.addr, o.dst_size);
    if (src) copy(reinterpret_cast<uint8_t*>(o.dst_addr), src, o.dst_size);
  }
}

void Engine::restore_kept_members() {
  for (uint32_t i = 0; i < kept_member_count_ && !failed(); ++i) {
    const KeptMember& m = kept_members_[i];
    uint64_t dst = 0;
    if (!translate(m.src, &dst) || dst < 4096) return;  // refused (named) or no struct here
    copy(reinterpret_cast<uint8_t*>(dst + m.offset), m.bytes, m.size);
  }
}

// The stripped type of the '.'-separated member path inside struct `type` of `v`
// (any kind but a bit-field), and its byte offset; 0 when the path names none.
uint32_t Engine::member_at_path(const View& v, uint32_t type, const char* path, uint64_t* offset) const {
  *offset = 0;
  uint32_t cur = v.strip(type);
  for (const char* p = path; *p;) {
    const ImageType& ty = v.type(cur);
    if (ty.kind != kStruct && ty.kind != kUnion) return 0;
    char name[128];
    uint32_t n = 0;
    while (*p && *p != '.' && n + 1 < sizeof name) name[n++] = *p++;
    name[n] = 0;
    if (*p == '.') ++p;
    const ImageMember* m = v.member(ty, name);
    if (!m || m->bit_size) return 0;
    *offset += m->offset, cur = v.strip(m->type);
  }
  return cur;
}

// This process's live heap blocks by base address (open addressing): F's start-up
// objects forward, R's (= P's) objects backward.
bool Engine::index_own_blocks() {
  const auto* runtime = reinterpret_cast<const ttst_runtime*>(config_.dst_runtime);
  uint64_t live = 0;
  for (uint32_t s = 0; s < TTST_HEAP_STRIPES; ++s) live += runtime->stripes[s].live;
  own_capacity_ = 16;
  while (own_capacity_ < 2 * live + 16) own_capacity_ <<= 1;
  own_blocks_ = alloc<OwnBlock>(own_capacity_);
  if (failed()) return false;
  zero(own_blocks_, own_capacity_ * sizeof(OwnBlock));
  int64_t walked = ttst_heap_walk(
      config_.dst_runtime, &Engine::read_own_memory, nullptr,
      [](void* ctx, uint64_t addr, const ttst_heap_desc* desc) -> int {
        Engine* e = static_cast<Engine*>(ctx);
        uint64_t h = address_slot(addr, e->own_capacity_);
        for (uint64_t k = 0; k < e->own_capacity_; ++k, h = (h + 1) & (e->own_capacity_ - 1))
          if (e->own_blocks_[h].addr == 0) {
            e->own_blocks_[h] = OwnBlock{addr, desc->size, desc->site};
            return 0;
          }
        return 1;  // full: cannot happen (sized from the live counts)
      },
      this);
  return own_walk_succeeded(walked);
}

const Engine::OwnBlock* Engine::own_block(uint64_t base) const {
  if (!own_blocks_ || base == 0) return nullptr;
  uint64_t h = address_slot(base, own_capacity_);
  for (uint64_t k = 0; k < own_capacity_; ++k, h = (h + 1) & (own_capacity_ - 1)) {
    if (own_blocks_[h].addr == 0) return nullptr;
    if (own_blocks_[h].addr == base) return &own_blocks_[h];
  }
  return nullptr;
}

// One value of the source's graph (type src_type at src) and this process's value
// at the same path (dst_type at dst; NULL: none), walked for pointers.
void Engine::kept_value(uint32_t src_type, uint32_t dst_type, const uint8_t* src, const uint8_t* dst, uint32_t depth) {
  if (!src || depth >= kMaxNesting || failed()) return;
  src_type = src_meta().strip(src_type);
  if (!has_pointer(src_type)) return;
  dst_type = dst ? dst_meta().strip(dst_type) : 0;
  if (dst_type == 0) dst = nullptr;
  const ImageType& st = src_meta().type(src_type);
  const ImageType* dt = dst ? &dst_meta().type(dst_type) : nullptr;
  if (dt && dt->kind != st.kind) dst = nullptr, dt = nullptr;
  if (st.kind == kStruct) {
    for (uint32_t i = 0; i < src_meta().member_count(st); ++i) {
      const ImageMember& m = src_meta().members(st)[i];
      if (m.bit_size) continue;
      const ImageMember* dm = dt ? dst_meta().member(*dt, src_meta().str(m.name)) : nullptr;
      uint32_t dindex = dm ? uint32_t(dm - dst_meta().members(*dt)) : 0;
      if (member_rule(src_type, i, dm ? dst_type : 0, dindex) != kRuleDefault) continue;  // annotated: not followed
      if (uint32_t declared = annotations_.member_pointee(src_newer(), src_type, i)) {  // POINTS_TO: a void * typed
        uint32_t sp = src_meta().strip(declared), dp = 0;
        if (uint32_t d = dm ? annotations_.member_pointee(!src_newer(), dst_type, dindex) : 0)
          dp = dst_meta().strip(d);
        else if (dm)
          dp = counterpart(sp);
        kept_slot_ = dm ? dst + dm->offset : nullptr;  // a run-time target takes P's (engine_keep_runtime.cc)
        kept_pointer(load_uint(src + m.offset, 8), sp, dm ? load_uint(dst + dm->offset, 8) : 0, dp);
        continue;
      }
      kept_value(m.type, dm ? dm->type : 0, src + m.offset, dm ? dst + dm->offset : nullptr, depth + 1);
    }
  } else if (st.kind == kArray) {
    uint64_t es = type_size(src_meta(), st.target), ed = dt ? type_size(dst_meta(), dt->target) : 0;
    uint64_t ns = st.count == dwarfmeta::image::kFlexibleCount ? 0 : st.count;
    uint64_t nd = dt && dt->count != dwarfmeta::image::kFlexibleCount ? dt->count : 0;
    for (uint64_t k = 0; es && k < ns && !failed(); ++k)
      kept_value(st.target, dt ? dt->target : 0, src + k * es, k < nd && ed ? dst + k * ed : nullptr, depth + 1);
  } else if (st.kind == kPointer) {
    uint32_t sp = src_meta().strip(st.target);
    uint32_t dp = dt ? dst_meta().strip(dt->target) : 0;
    kept_slot_ = dt ? dst : nullptr;  // a run-time target takes P's (engine_keep_runtime.cc)
    kept_pointer(load_uint(src, 8), sp, dt ? load_uint(dst, 8) : 0, dp);
  }
}

// A pointer of the source's graph to a value of type sp, and this process's pointer
// at the same path (to dp; vd 0: none): the object it reaches joins the graph.
void Engine::kept_pointer(uint64_t vs, uint32_t sp, uint64_t vd, uint32_t dp) {
  if (vs < 4096 || vs >= (1ull << 56) || in_kept_holder(vs)) return;
  if (sp == 0 || src_meta().type(sp).kind == kVoid) return kept_untyped(vs, vd);  // void * (no DWARF target)
  const ImageType& pointee = src_meta().type(sp);
  uint64_t es = type_size(src_meta(), sp);
  if (pointee.kind == kFunc || es == 0) return;
  int64_t index = object_holding(vs);
  if (index < 0 || vs == objects_[index].addr + objects_[index].size) return;
  Object& o = objects_[index];
  if (o.flags & (kGlobal | kFromLibrary)) return;
  // A heap block typing gave another type (the transferred state's typed pointers:
  // nginx's epoll `event_list`, reached from the configuration by a stale `void **`
  // into memory since reused) is not what this pointer says: not taken into the
  // kept graph, so it is transferred as its own type (the default, sound either way).
  if (!(o.flags & (kContainer | kKept)) && o.src_type && src_meta().strip(o.src_type) != sp) return;
  if (o.flags & kTransferAnchor) return note_runtime_pointer(vs);  // run-time state (mark_transfer_anchors)
  if (transferred_here(o)) return;
  uint64_t ed = dp ? type_size(dst_meta(), dp) : 0;
  if (vd < 4096 || vd >= (1ull << 56) || ed == 0) vd = 0;
  if (!(o.flags & kContainer) && o.size % es == 0 && (vs - o.addr) % es == 0) {
    // A whole block (an array of sp): the block of this process at the same element.
    uint64_t k = (vs - o.addr) / es, base = vd ? vd - k * ed : 0;
    const OwnBlock* b = vd ? own_block(base) : nullptr;
    if (b && !same_site_id(site_of(o), b->site)) b = nullptr;  // another allocation: not its counterpart
    add_kept(o.addr, o.size, b ? b->addr : 0, b ? b->size : 0, sp, dp, uint32_t(index));
    return;
  }
  // A value inside a block: paired by itself (a sub-object's extent when carved).
  uint64_t extent = es;
  int64_t carved = (o.flags & kContainer) ? carved_at(vs) : -1;
  if (carved >= 0 && objects_[carved].size > extent) extent = objects_[carved].size;
  if (!(o.flags & kContainer)) o.flags |= kKept, o.dst_addr = 0;  // an untyped block: kept whole
  add_kept(vs, extent, vd, ed, sp, dp, carved >= 0 ? uint32_t(carved) : 0xffffffffu);
}

// A void * of the kept graph (nginx: `ngx_array_t.elts`, `conf_ctx`'s per-module
// configurations), and this process's pointer at the same path:
//  - to a sub-object a typed pointer carved, or to the base of a heap block typing
//    gave a type: followed as that type (kept_pointer);
//  - to the base of an untyped heap block: the block is kept whole, paired with this
//    process's block at vd when vd is the base of one of the same allocation site;
//    inside one: kept whole too, the bytes from vs on paired with vd;
//  - into the bytes of a container no sub-object holds, or into a sub-object's tail
//    (the bytes after its type: nginx's cycle is followed by `paths.elts` and other
//    arrays of its configuration): the bytes from there to the next sub-object or
//    the container's end are kept, paired with vd.
// What such an untyped kept range holds is not known, so it is not walked further,
// and a pointer of the transferred state into it maps only at its start (to vd);
// anywhere inside it is refused, naming it. An untyped block inside a typed
// value (an interior void *) keeps nothing.
void Engine::kept_untyped(uint64_t vs, uint64_t vd) {
  if (in_kept_holder(vs)) return;
  int64_t index = object_holding(vs);
  if (index < 0 || vs == objects_[index].addr + objects_[index].size) return;
  Object& o = objects_[index];
  if (o.flags & (kGlobal | kFromLibrary | kTransferAnchor)) return;
  if (transferred_here(o)) return;
  if (vd < 4096 || vd >= (1ull << 56)) vd = 0;
  if (!(o.flags & kContainer)) {
    if (o.src_type)
      return kept_pointer(vs, src_meta().strip(o.src_type), vd, o.dst_type ? dst_meta().strip(o.dst_type) : 0);
    if (vs != o.addr) {  // inside an untyped block (the backward run: v2's pool blocks are no containers in F)
      o.flags |= kKept, o.dst_addr = 0;  // kept whole, as kept_pointer does
      add_kept(vs, o.addr + o.size - vs, vd, 0, 0, 0, 0xffffffffu);
      return;
    }
    const OwnBlock* b = vd ? own_block(vd) : nullptr;
    if (b && !same_site_id(site_of(o), b->site)) b = nullptr;
    o.dst_addr = 0;
    add_kept(o.addr, o.size, b ? b->addr : 0, b ? b->size : 0, 0, 0, uint32_t(index));
    return;
  }
  int64_t carved = carved_at(vs);
  if (carved >= 0)
    return kept_pointer(vs, src_meta().strip(objects_[carved].src_type), vd,
                        objects_[carved].dst_type ? dst_meta().strip(objects_[carved].dst_type) : 0);
  int64_t before = carved_below(vs);  // the sub-object whose extent may hold vs
  if (before >= 0 && objects_[before].addr - o.addr < o.size &&
      vs - objects_[before].addr < type_size(src_meta(), objects_[before].src_type))
    return;  // inside a typed value: one of its members, walked with it
  uint64_t end = o.addr + o.size;
  if (int64_t next = carved_above(vs); next >= 0 && objects_[next].addr < end) end = objects_[next].addr;
  add_kept(vs, end - vs, vd, 0, 0, 0, 0xffffffffu);
}

// The source's kept graph is its start-up state: a heap block a transfer allocated
// (origin_id set) is never part of it. Backward, that is the forward run's own
// blocks: F's kept graph is v2's start-up state, left in F as it was, and the blocks
// the transfer allocated hold P's state. Forward, a past version that an earlier
// update made (a committed F) holds such blocks too: its first past version's state.
// A pointer of the kept graph into one is a stale start-up pointer into memory the
// start-up freed and the transfer reused (nginx: `cscf->server_names.pool` into the
// destroyed cf->temp_pool, where F's first connection pool now lies): not followed,
// so the block goes back (or on) by its origin like all transferred state.
bool Engine::transferred_here(const Object& o) const {
  return !(o.flags & kGlobal) && origin_of(o) != 0;
}

bool Engine::same_site_id(uint64_t src_site, uint64_t dst_site) const {
  const auto* a = src_meta().alloc_site(src_site - config_.src_bias);
  const auto* b = dst_meta().alloc_site(dst_site - config_.dst_bias);
  return !a || !b || streq(src_meta().str(a->id), dst_meta().str(b->id));
}

// A range of the source's graph and its counterpart (dst 0: none). Met again with
// the same element type and another counterpart: it has none (not unique).
void Engine::add_kept(uint64_t src, uint64_t size, uint64_t dst, uint64_t dst_size, uint32_t st, uint32_t dt,
                      uint32_t object) {
  uint64_t h = address_slot(src, kept_slots_capacity_);
  for (;; h = (h + 1) & (kept_slots_capacity_ - 1)) {
    uint32_t slot = kept_slots_[h];
    if (slot == 0xffffffffu) break;
    KeptRange& r = kept_[slot];
    if (r.src != src) continue;
    if (r.src_type == st && r.dst != dst && r.paired) {
      r.paired = false;
      if (r.object != 0xffffffffu) objects_[r.object].dst_addr = 0;
    }
    return;
  }
  if (kept_count_ == kept_capacity_ && !grow_kept()) return;
  if (2 * (kept_count_ + 1) > kept_slots_capacity_ && !grow_kept_slots()) return;
  h = address_slot(src, kept_slots_capacity_);
  while (kept_slots_[h] != 0xffffffffu) h = (h + 1) & (kept_slots_capacity_ - 1);
  kept_slots_[h] = kept_count_;
  kept_[kept_count_] = KeptRange{src, size, dst, dst ? dst_size : 0, st, dt, object, kept_root_, dst != 0, kept_from_};
  if (object != 0xffffffffu) {
    Object& o = objects_[object];
    o.flags |= kKept;
    if (!(o.flags & kCarved)) o.dst_addr = dst, o.dst_size = dst ? dst_size : 0;
  }
  kept_work_[kept_work_count_++] = kept_count_++;
}

bool Engine::grow_kept() {
  KeptRange* bigger = alloc<KeptRange>(2 * kept_capacity_);
  uint32_t* work = alloc<uint32_t>(2 * kept_capacity_);
  if (failed()) return false;
  copy(bigger, kept_, kept_count_ * sizeof(KeptRange));
  copy(work, kept_work_, kept_work_count_ * sizeof(uint32_t));
  kept_ = bigger, kept_work_ = work, kept_capacity_ *= 2;
  return true;
}

bool Engine::grow_kept_slots() {
  uint32_t* slots = alloc<uint32_t>(2 * kept_slots_capacity_);
  if (failed()) return false;
  kept_slots_capacity_ *= 2;
  for (uint64_t i = 0; i < kept_slots_capacity_; ++i) slots[i] = 0xffffffffu;
  for (uint32_t i = 0; i < kept_count_; ++i) {
    uint64_t h = address_slot(kept_[i].src, kept_slots_capacity_);
    while (slots[h] != 0xffffffffu) h = (h + 1) & (kept_slots_capacity_ - 1);
    slots[h] = i;
  }
  kept_slots_ = slots;
  return true;
}

// The elements of one range, walked in parallel with its counterpart's (up to the
// shorter; the source's extra elements alone: kept, without counterparts).
void Engine::walk_kept_range(uint32_t i) {
  KeptRange r = kept_[i];
  if (r.src_type == 0) return;  // untyped (kept_untyped): not walked
  kept_from_ = r.src;
  uint64_t es = type_size(src_meta(), r.src_type), ed = r.dst ? type_size(dst_meta(), r.dst_type) : 0;
  if (es == 0) return;
  const uint8_t* src = source_bytes(r.src, r.size);
  uint64_t ns = r.size / es, nd = ed ? r.dst_size / ed : 0;
  if (ns == 0) ns = 1;  // a carved value shorter than its type cannot be: the extent covers it
  // A carved sub-object is one value: its extent (to the next sub-object) is not more
  // elements of it but its tail, other allocations of the pool. A T ** at an embedded
  // ngx_array_t of nginx's configuration walked its 8 KB extent as T * elements, whose
  // `pool` members took the cycle's pool header in without a counterpart.
  if (r.object != 0xffffffffu && (objects_[r.object].flags & kCarved)) ns = 1;
  for (uint64_t k = 0; k < ns && !failed(); ++k)
    kept_value(r.src_type, r.dst_type, src + k * es,
               k < nd && r.paired ? reinterpret_cast<const uint8_t*>(r.dst + k * ed) : nullptr, 0);
}

// By source address (then larger first), for kept_holding's binary search.
void Engine::sort_kept() {
  for (uint32_t gap = kept_count_ / 2; gap > 0; gap /= 2)  // Shell sort: no scratch, n log^2 n
    for (uint32_t i = gap; i < kept_count_; ++i) {
      KeptRange t = kept_[i];
      uint32_t j = i;
      for (; j >= gap && (kept_[j - gap].src > t.src || (kept_[j - gap].src == t.src && kept_[j - gap].size < t.size));
           j -= gap)
        kept_[j] = kept_[j - gap];
      kept_[j] = t;
    }
}

// The innermost kept range holding source address v (its end included), or -1.
int64_t Engine::kept_holding(uint64_t v) const {
  uint32_t lo = 0, hi = kept_count_;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (kept_[mid].src <= v) lo = mid + 1;
    else hi = mid;
  }
  // One past a kept value's end counts (an end pointer), unless a carved sub-object
  // starts there: the transferred value right after a kept one in a pool block
  // (nginx's cycle after its pool's header) is that sub-object, not the kept
  // value's end, which would map to the end of v2's counterpart.
  bool carved_here = carved_slots_ && carved_at(v) >= 0;
  for (uint32_t k = lo, steps = 0; k-- > 0 && steps < 64; ++steps)
    if (v - kept_[k].src < kept_[k].size || (v - kept_[k].src == kept_[k].size && !carved_here)) return k;
  return -1;
}

// A pointer of the transferred state into the source's kept graph: the same element
// and member of its counterpart, or refused naming it.
bool Engine::translate_kept(uint64_t v, const KeptRange& r, uint64_t* out) {
  if (r.src_type == 0 && r.paired && v == r.src) return *out = r.dst, true;  // an untyped range: its start only
  uint64_t es = type_size(src_meta(), r.src_type), ed = r.paired ? type_size(dst_meta(), r.dst_type) : 0;
  uint64_t off = v - r.src, k = es ? off / es : 0, inner = 0;
  bool ok = r.paired && es && ed && map_offset(r.src_type, r.dst_type, off - k * es, &inner);
  if (ok && k * ed + inner <= r.dst_size) return *out = r.dst + k * ed + inner, true;
  if (failed()) return false;
  fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
  message_.text(" points to ").text(r.src_type ? type_name(src_meta(), r.src_type) : "untyped bytes").text(" at ").hex(r.src);
  if (r.object != 0xffffffffu) {
    message_.text(" (");
    describe(message_, objects_[r.object]);
    message_.text(")");
  }
  message_.text("+")
      .number(off)
      .text(" in the start-up state TTST_KEEP_NEW(")
      .text(src_meta().str(src_meta().global_at(objects_[r.root].src_global).id))
      .text(") keeps, which has no counterpart in ")
      .text(config_.backward ? "v1" : "v2")
      .text("'s (")
      .text(!r.paired ? "not met at the same place from the root, or met at two"
            : r.src_type == 0 ? "reached only through void *: only its start maps"
                              : "past the end of its counterpart")
      .text(")");
  describe_kept_origin(r);
  message_.text(": the transferred state would point into state the update drops");
  advise_current("NO_TRANSFER");  // the holder keeps this version's own value, or its transfer code says
  uint32_t holder = 0, member = 0;
  if (current_member(&holder, &member)) advise_plugin(holder);
  return false;
}

// How the kept walk met a range: the ranges whose walk met it, back towards the
// root (at most 4), so that a stale pointer of the kept graph can be found.
void Engine::describe_kept_origin(const KeptRange& r) {
  uint64_t from = r.from;
  for (int steps = 0; from && steps < 4; ++steps) {
    const KeptRange* p = nullptr;
    for (uint32_t i = 0; i < kept_count_ && !p; ++i)
      if (kept_[i].src == from) p = &kept_[i];
    if (!p) return;
    message_.text(steps ? ", from " : "; the kept walk met it from ")
        .text(p->src_type ? type_name(src_meta(), p->src_type) : "untyped bytes")
        .text(" at ")
        .hex(p->src);
    if (p->object != 0xffffffffu) {
      message_.text(" (");
      describe(message_, objects_[p->object]);
      message_.text(")");
    }
    from = p->from;
  }
}

// Right after indexing: a global whose value in P still equals its initializer in
// v1's executable (never written, or written back) is start-up state v1 never made
// its own: F keeps its start-up value, as for NO_TRANSFER. Backward the same test
// on R's own value (R = P) with v1's executable (R's own): R keeps P's value, and
// F's value of it (v2's, maybe pointing at v2's start-up objects) is never
// translated back, so the diff is unaffected. A global holding pointers
// only when its initializer is all in .bss (zeros): a .data initializer's pointers
// are relocated at load, so the file's bytes are not what the program started
// with. Only globals whose type keeps its layout in v2: a changed type is
// converted (or refused: a kind change, a value that no longer fits) as before, so
// the user sees it. Globals with a rule, read-only, thread-local or without a
// counterpart are left as they are; so are the runtime's own.
void Engine::keep_untouched_globals() {
  uint8_t buf[512];
  for (uint32_t g = 0; g < global_count_; ++g) {
    Object& o = objects_[g];
    if (o.dst_global == 0xffffffffu || (o.flags & (kReadonly | kRuleMask)) || o.size == 0) continue;
    if (!same_layout(o.src_type, o.dst_type)) continue;  // a changed type: converted (or refused) as before
    // v1's global and its value: forward the source's (P), backward this process's (R = P).
    const ImageGlobal& global = config_.backward ? dst_meta().global_at(o.dst_global) : src_meta().global_at(o.src_global);
    if (global.tls) continue;
    const uint8_t* now = config_.backward ? reinterpret_cast<const uint8_t*>(o.dst_addr) : source_bytes(o.addr, o.size);
    bool pointers = has_pointer(o.src_type), same = now != nullptr;
    long from_file = 0;
    uint64_t size = config_.backward ? o.dst_size : o.size;
    for (uint64_t off = 0; same && off < size; off += sizeof buf) {
      uint64_t n = size - off < sizeof buf ? size - off : sizeof buf;
      long got = env_->read_initial(env_->ctx, global.addr + off, buf, n);
      if (got < 0) same = false;
      from_file += got > 0 ? got : 0;
      for (uint64_t k = 0; same && k < n; ++k) same = buf[k] == now[off + k];
    }
    if (!same || (pointers && from_file > 0)) continue;
    o.flags |= uint32_t(kRuleSkip) << kRuleShift;
    result_.untouched++;
  }
}

void Engine::unmap_kept_bases() {
  for (uint32_t i = 0; i < kept_count_; ++i) {
    KeptRange& r = kept_[i];
    ttst_heap_desc* desc = base_descriptor(r.src);
    if (!desc) continue;
    const Object& o = objects_[reinterpret_cast<uint64_t>(desc->prev) & 0xffffffffu];
    if (r.object != 0xffffffffu && &objects_[r.object] == &o) continue;  // the whole block: paired as one
    desc->next = nullptr;  // the block's own mapping no longer answers for its base
    // Its counterpart at the base of a block of this process too (nginx: the cycle's
    // pool header, v2's at the base of v2's start-up pool block): a pointer to the
    // base, meant as the block or as its first value, maps to that block and its first
    // value alike. Else translate() refuses it, naming it (not guessed).
    if (!(r.paired && own_block(r.dst))) r.paired = false;
  }
}

void Engine::keep_kept_partners() {
  for (uint64_t i = 0; i < startup_count_; ++i)
    if (startup_objects_[i].superseded && kept_partner(startup_objects_[i].addr, startup_objects_[i].size))
      startup_objects_[i].superseded = false;
}

// Forward: does this start-up object of F [addr, addr + size) hold part of the kept
// graph (then it is never freed)?
bool Engine::kept_partner(uint64_t addr, uint64_t size) const {
  for (uint32_t i = 0; i < kept_count_; ++i)
    if (kept_[i].paired && kept_[i].dst - addr < (size ? size : 1)) return true;
  return false;
}

}  // namespace ttst::stfw::engine_detail
