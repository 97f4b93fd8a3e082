// engine_library.cc — the library adapters in the engine (library_state.h): their
// member rules joined to the annotations, embedded values reported as written,
// pointers to the library's own objects kept, F's registrations withdrawn from
// memory the transfer overwrites.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"
#include "stfw/xfer/library_state.h"

namespace ttst::stfw::engine_detail {

// Each adapter's rules, on both images, for this direction; the source's struct
// types each adapter embeds. A program that embeds none of them: nothing to do.
bool Engine::resolve_library_rules() {
  for (uint32_t a = 0; a < config_.library_adapter_count; ++a) {
    const LibraryAdapter& adapter = *config_.library_adapters[a];
    for (uint32_t r = 0; r < adapter.rule_count; ++r) {
      const LibraryMemberRule& rule = adapter.rules[r];
      Rule how = Rule(config_.backward ? rule.backward : rule.forward);
      annotations_.add_member_rule(src_meta(), src_newer(), rule.target, how);
      annotations_.add_member_rule(dst_meta(), !src_newer(), rule.target, how);
    }
    for (int side = 0; side < 2 && adapter.embedded_type; ++side) {
      const View& v = side ? dst_meta() : src_meta();
      LibraryType* types = side ? library_dst_embedded_ : library_embedded_;
      uint32_t& count = side ? library_dst_embedded_count_ : library_embedded_count_;
      for (uint32_t t = 1; t < v.type_count() && count < kMaxLibraryTypes; ++t) {
        const ImageType& ty = v.type(t);
        if (ty.kind != kStruct || ty.name == dwarfmeta::image::kNone ||
            (ty.flags & dwarfmeta::image::kTypeDeclaration) || !streq(v.str(ty.name), adapter.embedded_type))
          continue;
        types[count++] = LibraryType{t, a};
      }
    }
  }
  if (config_.library_adapter_count) {
    handle_memo_ = alloc<uint8_t>(src_meta().type_count());
    if (handle_memo_) zero(handle_memo_, src_meta().type_count());
  }
  if (library_dst_embedded_count_ && !config_.backward) {
    holds_embedded_memo_ = alloc<uint8_t>(dst_meta().type_count());
    if (holds_embedded_memo_) zero(holds_embedded_memo_, dst_meta().type_count());
  }
  return !failed();
}

// The adapter whose embedded type src_type (stripped) is, or -1.
int32_t Engine::embedded_adapter(uint32_t src_type) const {
  for (uint32_t i = 0; i < library_embedded_count_; ++i)
    if (library_embedded_[i].type == src_type) return int32_t(library_embedded_[i].adapter);
  return -1;
}

// The adapter whose handle type the (stripped) source pointee is, or -1 (memoised
// per type: every pointer the walk writes asks).
int32_t Engine::handle_adapter(uint32_t src_pointee) {
  if (handle_memo_ && handle_memo_[src_pointee]) return int32_t(handle_memo_[src_pointee]) - 2;
  const ImageType& ty = src_meta().type(src_pointee);
  int32_t found = -1;
  if (ty.kind == kStruct && ty.name != dwarfmeta::image::kNone) {
    const char* name = src_meta().str(ty.name);
    for (uint32_t a = 0; a < config_.library_adapter_count && found < 0; ++a)
      for (uint32_t h = 0; h < config_.library_adapters[a]->handle_count && found < 0; ++h)
        if (streq(config_.library_adapters[a]->handles[h], name)) found = int32_t(a);
  }
  if (handle_memo_) handle_memo_[src_pointee] = uint8_t(found + 2);
  return found;
}

// A pointer to a library's own object (an adapter's handle type, holding NULL or
// an address inside an object the library allocated): the destination keeps its
// own value (F: v2's start-up's; R: P's). True if handled so.
bool Engine::library_handle(const ImageType& src_ty, const uint8_t* src, uint8_t* dst) {
  if (!config_.library_adapter_count) return false;
  int32_t adapter = handle_adapter(src_meta().strip(src_ty.target));
  if (adapter < 0) return false;
  uint64_t v = load_uint(src, 8);
  if (v >= 4096) {
    int64_t index = object_holding(v);
    if (index < 0 || !(objects_[index].flags & kFromLibrary)) return false;  // not the library's: translated
  }
  if (mode_ != kWrite || config_.backward) return true;
  uint64_t own = load_uint(dst, 8);
  if (v >= 4096 && own == 0 && (own = superseded_handle(dst)) != 0)  // a per-thread table re-made by v2 (issue 19)
    store_uint(dst, 8, own);                                          // its entry's handle, v2's
  if (v >= 4096 && own == 0) {  // P had the library's object, v2's start-up made none
    const Object& o = objects_[object_holding(v)];
    fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
    message_.text(" points to ");
    describe(message_, o);
    message_.text("+")
        .number(v - o.addr)
        .text(", allocated inside a library: not transferred, and the new version's start-up left this ")
        .text(config_.library_adapters[adapter]->library)
        .text(" pointer NULL (each version keeps the library's objects it made): it would be lost");
    advise_current("NO_TRANSFER");  // the fix: v2's own (NULL) on purpose
    return true;
  }
  if (env_->library_handle) env_->library_handle(env_->ctx, uint32_t(adapter), v, own);
  return true;
}

// A library handle of a heap object the transfer allocated in F (P's per-worker
// `threads` array, each element's `event_base *`) that v2's start-up made too:
// the start-up object this one supersedes (a global's pointer to it now points
// here, and to nothing else), of the same size, holds v2's handle at the same
// offset: its pairing with P's is by position, as v2's start-up built it (worker
// i's base for P's worker i). 0: no such object, or it holds none.
uint64_t Engine::superseded_handle(const uint8_t* dst) const {
  if (current_ >= object_count_) return 0;
  const Object& o = objects_[current_];
  if (o.flags & kGlobal || o.dst_addr == 0) return 0;
  uint64_t off = reinterpret_cast<uint64_t>(dst) - o.dst_addr;
  if (off + 8 > o.dst_size) return 0;
  for (uint64_t i = 0; i < startup_count_; ++i) {
    const StartupObject& s = startup_objects_[i];
    if (!s.superseded || s.conflicting || s.counterpart != o.dst_addr || s.size != o.dst_size) continue;
    return load_uint(reinterpret_cast<const uint8_t*>(s.addr + off), 8);
  }
  return 0;
}

// Forward, before any write: every global the transfer writes is memory whose
// library registrations F's start-up made must be withdrawn first.
void Engine::release_library_state() {
  if (config_.backward || !env_->library_release || !holds_embedded_memo_) return;
  for (uint32_t i = 0; i < object_count_; ++i) {
    const Object& o = objects_[i];
    if (!(o.flags & kGlobal) || o.dst_addr == 0 || (o.flags & kReadonly) || o.dst_global == 0xffffffffu) continue;
    if (Rule((o.flags & kRuleMask) >> kRuleShift) == kRuleSkip) continue;
    release_embedded(o.dst_type, o.dst_addr, 0);
  }
}

// Does a value of this process's type hold an embedded library value (memoised)?
bool Engine::holds_embedded(uint32_t dst_type, uint32_t depth) {
  dst_type = dst_meta().strip(dst_type);
  if (holds_embedded_memo_[dst_type]) return holds_embedded_memo_[dst_type] == 2;
  const ImageType& ty = dst_meta().type(dst_type);
  bool holds = false;
  for (uint32_t i = 0; i < library_dst_embedded_count_ && !holds; ++i) holds = library_dst_embedded_[i].type == dst_type;
  if (depth < kMaxNesting && (ty.kind == kStruct || ty.kind == kUnion))
    for (uint32_t m = 0; m < dst_meta().member_count(ty) && !holds; ++m)
      holds = holds_embedded(dst_meta().members(ty)[m].type, depth + 1);
  if (depth < kMaxNesting && ty.kind == kArray) holds = holds_embedded(ty.target, depth + 1);
  holds_embedded_memo_[dst_type] = holds ? 2 : 1;
  return holds;
}

void Engine::release_embedded(uint32_t dst_type, uint64_t addr, uint32_t depth) {
  dst_type = dst_meta().strip(dst_type);
  if (depth >= kMaxNesting || !holds_embedded(dst_type, depth)) return;
  const ImageType& ty = dst_meta().type(dst_type);
  for (uint32_t i = 0; i < library_dst_embedded_count_; ++i)
    if (library_dst_embedded_[i].type == dst_type)
      return env_->library_release(env_->ctx, library_dst_embedded_[i].adapter, addr, addr + ty.size, dst_type);
  if (ty.kind == kStruct)  // (a union's members overlap: which one lives is unknown, none is withdrawn)
    for (uint32_t m = 0; m < dst_meta().member_count(ty); ++m)
      release_embedded(dst_meta().members(ty)[m].type, addr + dst_meta().members(ty)[m].offset, depth + 1);
  if (ty.kind == kArray && ty.count != dwarfmeta::image::kFlexibleCount) {
    uint64_t size = type_size(dst_meta(), ty.target);
    for (uint64_t k = 0; k < ty.count; ++k) release_embedded(ty.target, addr + k * size, depth + 1);
  }
}

// Byte offset of a member path ("a.b") inside the source's type, or -1.
int64_t Engine::member_path_offset(uint32_t type, const char* path) const {
  int64_t off = 0;
  uint32_t cur = src_meta().strip(type);
  char part[64];
  while (*path) {
    uint64_t n = 0;
    while (path[n] && path[n] != '.' && n < 63) part[n] = path[n], ++n;
    part[n] = 0;
    path += n + (path[n] == '.');
    const ImageMember* m = src_meta().member(src_meta().type(cur), part);
    if (!m) return -1;
    off += m->offset, cur = src_meta().strip(m->type);
  }
  return off;
}

// Does the source hold a live value of the adapter's embedded type `type` at addr?
bool Engine::live_embedded(const LibraryAdapter& adapter, uint32_t type, uint64_t addr) {
  int64_t owner_off = member_path_offset(type, adapter.owner_member),
          flags_off = member_path_offset(type, adapter.flags_member);
  if (owner_off < 0 || flags_off < 0) return false;
  const uint8_t* owner = source_bytes(addr + uint64_t(owner_off), 8);
  const uint8_t* flags = source_bytes(addr + uint64_t(flags_off), 2);
  if (!owner || !flags || (load_uint(flags, 2) & adapter.live_mask) != adapter.live_mask) return false;
  int64_t index = object_holding(load_uint(owner, 8));
  return index >= 0 && (objects_[index].flags & kFromLibrary);
}

bool Engine::type_library_containers() {
  if (!library_embedded_count_) return true;
  struct Container {
    uint32_t type, adapter, embedded;  // the struct, its member's adapter and (stripped) type
    uint64_t offset, size;
  };
  Container containers[64];
  uint32_t count = 0;
  for (uint32_t t = 1; t < src_meta().type_count() && count < 64; ++t) {
    const ImageType& ty = src_meta().type(t);
    if (ty.kind != kStruct || (ty.flags & dwarfmeta::image::kTypeDeclaration) || ty.size == 0) continue;
    for (uint32_t m = 0; m < src_meta().member_count(ty) && count < 64; ++m) {
      uint32_t embedded = src_meta().strip(src_meta().members(ty)[m].type);
      int32_t adapter = embedded_adapter(embedded);
      if (adapter >= 0)
        containers[count++] = Container{t, uint32_t(adapter), embedded, src_meta().members(ty)[m].offset, ty.size};
    }
  }
  for (uint32_t i = global_count_; i < object_count_ && !failed(); ++i) {
    Object& o = objects_[i];
    if (o.src_type != 0 || (o.flags & kFromLibrary)) continue;
    uint32_t found = 0, matches = 0;
    for (uint32_t c = 0; c < count; ++c) {
      const Container& k = containers[c];
      if (k.size != o.size || k.type == found) continue;
      if (live_embedded(*config_.library_adapters[k.adapter], k.embedded, o.addr + k.offset))
        found = k.type, matches++;
    }
    uint32_t dst_type = matches == 1 ? counterpart(found) : 0;
    if (!dst_type) continue;
    o.src_type = found, o.dst_type = dst_type;
    queue_for_typing(i);
    type_queued();
  }
  return !failed();
}

// Forward, after a value of an embedded type was written.
void Engine::library_written(int32_t adapter, uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst) {
  if (adapter < 0 || mode_ != kWrite || config_.backward || !env_->library_embedded || failed()) return;
  char* name = alloc<char>(200);
  if (!name) return;
  Message where{name, 200};
  where.text("");
  describe(where, objects_[current_]);
  describe_path(where);
  env_->library_embedded(env_->ctx, uint32_t(adapter), reinterpret_cast<uint64_t>(dst), src, src_type, dst_type, name);
}

}  // namespace ttst::stfw::engine_detail
