// engine_pointers.cc — pointer translation: objects (base, interior, one past the end),
// functions, string literals, argument/environment strings, shared libraries.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"
#include "stfw/xfer/inheritance.h"

namespace ttst::stfw::engine_detail {

void Engine::pointer(const ImageType& src_ty, const ImageType& dst_ty, const uint8_t* src, uint8_t* dst) {
  uint64_t v = load_uint(src, 8);
  if (mode_ != kType && library_handle(src_ty, src, dst)) return;  // the library's object: kept
  if (mode_ == kZero) return zero(dst, 8);
  if (mode_ == kType) {
    if (v < 4096 || free_element_) return;  // a free list's element types nothing (engine_free.cc)
    ttst_heap_desc* target = base_descriptor(v);
    if (target && target->offset == src_meta().strip(src_ty.target) + 1) return;  // already typed so
    int64_t index = target ? int64_t(reinterpret_cast<uint64_t>(target->prev) & 0xffffffffu) : object_holding(v);
    if (index < 0) return;
    Object& o = objects_[index];
    if (o.flags & (kGlobal | kFromLibrary)) return;
    if (stale_startup_pointer(o, src)) return;  // engine_keep_runtime.cc
    note_reached(uint32_t(index), src);  // the refusals' paths (root_paths.cc)
    uint32_t src_pointee = src_meta().strip(src_ty.target);
    const ImageType& pointee_ty = src_meta().type(src_pointee);
    if (src_pointee == 0 || pointee_ty.kind == kFunc || pointee_ty.size == 0) return;
    if (v == o.addr && !(o.flags & kContainer)) declare_by_type(o, src_pointee, dst_ty.target);
    if ((o.flags & kContainer) && pass_doomed() && !type_may_declare(src_pointee)) return;  // engine_doomed_pass.cc
    if (o.flags & kContainer) return carve(uint32_t(index), v, src_pointee, dst_ty.target);
    if (v != o.addr && free_element_count_ && is_free_element(v)) return;  // its stale pointers declare nothing
    if (v != o.addr) return declare_behind_interior(o, v, src_pointee);  // only base pointers type an object
    uint32_t dst_pointee = dst_meta().strip(dst_ty.target);
    if (dst_pointee == 0) dst_pointee = counterpart(src_pointee);
    // C inheritance (inheritance.h): the site's constructor returning `derived *` is
    // more specific than a `base *` whose layout is its prefix.
    const uint32_t derived = pointee_ty.kind == kStruct ? returned_struct_of_site(site_of(o), o.size) : 0;  // engine_type_plan.cc
    if (derived && derived != src_pointee && layout_prefix(src_meta(), src_pointee, derived))
      src_pointee = derived, dst_pointee = counterpart(derived);
    if (o.src_type != 0 && src_meta().strip(o.src_type) != src_pointee && pointee_ty.kind == kStruct &&
        layout_prefix(src_meta(), src_pointee, o.src_type))
      return;  // a view of the object through a prefix of its type
    const bool upgrade = o.src_type != 0 && src_meta().strip(o.src_type) != src_pointee &&
                         layout_prefix(src_meta(), o.src_type, src_pointee) && o.size % type_size(src_meta(), src_pointee) == 0;
    if (o.src_type == 0 || upgrade ||
        (type_size(src_meta(), o.src_type) == 1 && pointee_ty.size > 1 && pointee_ty.kind == kStruct)) {
      if (o.size % type_size(src_meta(), src_pointee) != 0) {
        if (pointee_ty.kind == kStruct) o.flags |= kMisfitView;  // named by the untyped refusal
        return;
      }
      o.src_type = src_pointee, o.dst_type = dst_pointee;
      o.flags &= ~kQueued;
      if (target) target->offset = src_pointee + 1;
      queue_for_typing(uint32_t(index));
    } else if (src_meta().strip(o.src_type) != src_pointee && pointee_ty.kind == kStruct &&
               src_meta().type(src_meta().strip(o.src_type)).kind == kStruct) {
      fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
      describe(message_, o);
      message_.text(" is reached as ")
          .text(type_name(src_meta(), src_meta().strip(o.src_type)))
          .text(" * and as ")
          .text(type_name(src_meta(), src_pointee))
          .text(" * (from ");
      describe_current();
      describe_path(message_);
      message_.text("), struct types that are not prefixes of one another: needs transfer code");
      describe_root_path(message_, uint32_t(index));
      advise_parent(uint32_t(index), "NO_TRANSFER");  // the fix: one of the two pointers left to v2,
      advise_current("NO_TRANSFER");                  // or the struct's transfer code
      advise_plugin(o.src_type);
    }
    return;
  }
  result_.bytes += 8;
  uint64_t translated = 0;
  if (free_element_) return store_uint(dst, 8, translate_quietly(v, &translated) ? translated : v);
  pointee_hint_ = src_meta().strip(src_ty.target);  // decides a boundary (engine_blind_spots.cc)
  bool translated_ok = translate(v, &translated);
  pointee_hint_ = 0;
  if (translated_ok) {
    if (!config_.backward && current_ < object_count_ && supersedes_startup(current_)) {  // engine_keep_runtime.cc
      supersede(load_uint(dst, 8), translated,  // a global's: named in the frames remap refusal's fix
                (objects_[current_].flags & kGlobal) ? objects_[current_].dst_global : 0xffffffffu);
      if ((objects_[current_].flags & kGlobal) && refuse_resized_startup(load_uint(dst, 8), v)) return;
    }
    store_uint(dst, 8, translated);
    if (translated != v || v >= 4096) result_.pointers++;
  }
}

// Destination offset of source offset `off` inside a value of type src_type/dst_type.
bool Engine::map_offset(uint32_t src_type, uint32_t dst_type, uint64_t off, uint64_t* out, int depth) {
  src_type = src_meta().strip(src_type), dst_type = dst_meta().strip(dst_type);
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  if (off == 0) return *out = 0, true;
  if (depth >= int(kMaxNesting)) return refuse_too_deep("points into a value nested"), false;
  // The member holding `off`, or ending there (one past a member array), or both.
  if (src_ty.kind == kStruct && dst_ty.kind == kStruct) return map_struct_offset(src_ty, dst_ty, off, out, depth);
  if (src_ty.kind == kArray && dst_ty.kind == kArray) {
    uint64_t src_elem_size = type_size(src_meta(), src_ty.target), dst_elem_size = type_size(dst_meta(), dst_ty.target);
    if (src_elem_size == 0) return false;
    uint64_t k = off / src_elem_size, rem = off % src_elem_size;
    uint64_t dst_count = dst_ty.count == dwarfmeta::image::kFlexibleCount ? 0 : dst_ty.count;
    // One past the end only if it was one past the end in the source: P's end pointer
    // is v2's end pointer; a pointer to an element v2's array no longer has is refused
    // (not taken for v2's end: it would point past the array afterwards). A grown
    // array's end pointer too becomes v2's end, which the backward run maps back.
    if (src_ty.count != dwarfmeta::image::kFlexibleCount && k == src_ty.count && rem == 0)
      return *out = dst_count * dst_elem_size, true;
    if (k > dst_count || (k == dst_count && rem != 0)) return false;
    if (k == dst_count && src_ty.count != dwarfmeta::image::kFlexibleCount) return false;  // dropped element
    uint64_t inner;
    if (!map_offset(src_ty.target, dst_ty.target, rem, &inner, depth + 1)) return false;
    return *out = k * dst_elem_size + inner, true;
  }
  if (off <= dst_ty.size) return *out = off, true;
  return false;
}

// A pointer of the source: NULL and small sentinels kept; into an object of the
// state, a function, a string literal, the argument / environment strings or a
// library: the same thing here; anything else is refused (AMBIGUOUS).
bool Engine::translate(uint64_t v, uint64_t* out) {
  if (v < 4096 || v >= 0xfffffffffffff000ull) return *out = v, true;  // NULL and small sentinels
  // At or above 2^56 no x86-64 process has user memory (5-level paging included):
  // not an address of anything (stale bytes, text in an unused slot): carried as is.
  if (v >= (1ull << 56)) return *out = v, true;
  if (const ttst_heap_desc* target = base_descriptor(v))
    if (uint64_t dst_addr = reinterpret_cast<uint64_t>(target->next))
      if (!own_places_ || container_ref_ ||  // a sub-object at a container's base may map through itself
          !(objects_[reinterpret_cast<uint64_t>(target->prev) & 0xffffffffu].flags & kContainer))
        return *out = dst_addr, true;  // a mapped object's base
  if (kept_count_)  // into the source's kept graph (TTST_KEEP_NEW): its counterpart here
    if (int64_t k = kept_holding(v); k >= 0) return translate_kept(v, kept_[k], out);
  int64_t index = object_holding(v);
  if (index >= 0) {  // a global's start may be one past the end of the global before it
    int boundary = translate_at_global_boundary(v, uint32_t(index), out);
    return boundary < 0 ? translate_into_object(v, objects_[index], out) : boundary == 1;
  }
  uint64_t link_addr = v - config_.src_bias;
  const auto* function = src_meta().function_containing(link_addr);
  if (function && function->low == link_addr) return translate_function(*function, out);
  if (src_meta().in_string_ranges(link_addr)) return string_literal(v, out);
  const StringAreas& src_strings = config_.src_strings;
  if (v >= src_strings.args_lo && v < src_strings.args_hi)
    return process_string(v, src_strings.args_lo, src_strings.args_hi, true, out);
  if (v >= src_strings.env_lo && v < src_strings.env_hi)
    return process_string(v, src_strings.env_lo, src_strings.env_hi, false, out);
  if (const LibRange* lib = library_holding(v)) return translate_into_library(v, *lib, out);
  if (env_->library_symbol) {  // a library variable copied into the executable (stdout)
    char symbol[128] = "";
    if (uint64_t found = env_->library_symbol(env_->ctx, nullptr, v, symbol, sizeof symbol)) return *out = found, true;
    if (symbol[0]) {
      fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
      message_.text(" = ")
          .hex(v)
          .text(" points to the library variable ")
          .text(symbol)
          .text(" copied into the executable, which this version does not import: policy is to refuse");
      advise_current("NO_TRANSFER");
      return false;
    }
  }
  if (dead_or_unmapped(v)) return *out = v, true;
  fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  message_.text(" = ").hex(v).text(
      " points outside the program's state (shared library, stack or freed memory): policy is to refuse");
  advise_current("IXFER");  // the fix: carried as it is (never dereferenced), or left to v2
  advise_current("NO_TRANSFER");
  return false;
}

// A pointer value no live thing of the source is at (translate() found no object,
// function, literal, string or library there), decided from the source's maps:
// inside its brk heap, where every live block is an object of the table, it points
// into freed memory (dead: C makes any use of it undefined, comparing included);
// in no mapping at all it is no address P could use. Either is carried as it is,
// bit for bit, so the backward transfer gives P's value back (the diff checks it).
bool Engine::dead_or_unmapped(uint64_t v) {
  if (v >= config_.src_heap_lo && v < config_.src_heap_hi) return result_.dead_pointers++, true;
  if (!config_.src_mappings || in_source_mapping(v)) return false;  // mapped: refused
  return result_.unmapped_words++, true;
}

// Whether a mapping of the source (config_.src_mappings, sorted) holds v.
bool Engine::in_source_mapping(uint64_t v) const {
  uint64_t lo = 0, hi = config_.src_mapping_count;  // the first mapping ending after v
  while (lo < hi) {
    uint64_t mid = (lo + hi) / 2;
    const Region& r = config_.src_mappings[mid];
    if (r.addr + r.size <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo < config_.src_mapping_count && config_.src_mappings[lo].addr <= v;
}

// Into (or one past) an object: the same element, member and offset in its
// destination; a target that no longer exists is an INVARIANT naming both ends.
bool Engine::translate_into_object(uint64_t v, const Object& o, uint64_t* out) {
  if (o.flags & kOwned) {  // TTST_XFER_OWNS: only its owner's plugin function refers to it
    fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_.text(" points to "), o);
    message_.text(", which the transfer plugin owns (TTST_XFER_OWNS): only its owner member may point to it");
    return false;
  }
  if (o.dst_addr == 0) return target_missing(v, o), false;
  if ((o.flags & kContainer) && !free_pointer_ && !free_element_ && !(container_ref_ && v == o.addr) &&
      !held_by_sub_object(v, o))
    return refuse_free_byte_pointer(v, o), false;  // into free memory (engine_free.cc)
  if (bool ok; (o.flags & kContainer) && translate_own_place(v, o, out, &ok)) return ok;  // engine_plugin_place.cc
  uint64_t off = v - o.addr, dst_off = 0;
  bool ok;
  if (o.flags & kGlobal)
    ok = map_offset(o.src_type, o.dst_type, off, &dst_off);
  else if (o.src_type == 0)
    ok = (dst_off = off) <= o.dst_size;
  else {
    uint64_t src_elem_size = type_size(src_meta(), o.src_type), dst_elem_size = type_size(dst_meta(), o.dst_type);
    uint64_t k = off / src_elem_size, rem = off % src_elem_size, inner = 0;
    ok = map_offset(o.src_type, o.dst_type, rem, &inner);
    dst_off = k * dst_elem_size + inner;
  }
  if (!ok && !failed()) target_missing(v, o);  // (map_offset may have refused already)
  if (!ok) return false;
  return *out = o.dst_addr + dst_off, true;
}

// To a function's entry: the function of the same ID here (an INVARIANT if v2 lost it).
bool Engine::translate_function(const dwarfmeta::image::ImageFunction& function, uint64_t* out) {
  const auto* dst_function = dst_meta().function(src_meta().str(function.id));
  if (!dst_function) {
    violation("points to function ");
    message_.text(src_meta().str(function.id)).text(", which v2 no longer has");
    return false;
  }
  return *out = dst_function->low + config_.dst_bias, true;
}

// Into a library's static data or functions: the same offset in this process's
// mapping of the same file; a library upgraded on disk, by symbol; else refused.
bool Engine::translate_into_library(uint64_t v, const LibRange& lib, uint64_t* out) {
  if (lib.dst_start) return *out = lib.dst_start + (v - lib.src_start), true;  // same file, same offset
  char symbol[128] = "";
  if (lib.twin_start && env_->library_symbol) {  // upgraded on disk: by symbol
    if (v == last_symbol_src_ && last_symbol_dst_) return *out = last_symbol_dst_, true;
    if (uint64_t found = env_->library_symbol(env_->ctx, &lib, v, symbol, sizeof symbol))
      return last_symbol_src_ = v, last_symbol_dst_ = found, *out = found, true;
  }
  fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  message_.text(" = ").hex(v).text(" points into ").text(lib.path);
  if (!lib.twin_start) {
    message_.text(", which this version does not map from the same file: policy is to refuse");
  } else {
    if (symbol[0])
      message_.text(" (symbol ").text(symbol).text(")");
    else
      message_.text(" (no symbol there)");
    message_.text(", which this version's build of the library does not have: policy is to refuse");
  }
  advise_current("NO_TRANSFER");  // the fix: this process's own value
  return false;
}

// argv[0], which names each version's own program (the supervisor execs v2 with
// its own path there): a pointer to the directory part maps to the same offset of
// this process's directory part, one into the base name (after the last '/') to
// the same offset of its base name, the terminator included; an offset the other
// string's part does not have is refused. Either part maps to the same part, so the
// round trip is the identity. `at` is the offset in the source's string; *out gets
// the offset in this one's.
bool Engine::program_name(const char* here, uint64_t n, const char* there, uint64_t len, uint64_t at, uint64_t* out) {
  uint64_t there_base = len, here_base = n;  // one past the last '/' (0: none)
  while (there_base > 0 && there[there_base - 1] != '/') --there_base;
  while (here_base > 0 && here[here_base - 1] != '/') --here_base;
  if (at >= there_base) return at - there_base <= n - here_base ? (*out = here_base + (at - there_base), true) : false;
  return at < here_base ? (*out = at, true) : false;
}

// A pointer into the source's argument or environment strings: the same string of
// this process (arguments: the same position too), at the same offset; argv[0] by
// program_name().
bool Engine::process_string(uint64_t v, uint64_t lo, uint64_t hi, bool args, uint64_t* out) {
  const char* area = reinterpret_cast<const char*>(source_bytes(lo, hi - lo));
  const char* what = args ? "points into the argument \"" : "points into the environment string \"";
  if (!area) {
    violation(what);
    message_.text("\" (not in the copy of the source's memory)");
    return false;
  }
  uint64_t start = v - lo, index = 0;
  while (start > 0 && area[start - 1] != 0) --start;
  for (uint64_t k = 0; k < start; ++k) index += area[k] == 0;
  uint64_t len = 0;
  while (start + len < hi - lo && area[start + len]) ++len;
  const StringAreas& dst_strings = config_.dst_strings;
  uint64_t dst_lo = args ? dst_strings.args_lo : dst_strings.env_lo,
           dst_hi = args ? dst_strings.args_hi : dst_strings.env_hi;
  const char* here = reinterpret_cast<const char*>(dst_lo);
  for (uint64_t pos = 0, j = 0; dst_lo && pos < dst_hi - dst_lo; ++j) {
    uint64_t n = 0;
    while (pos + n < dst_hi - dst_lo && here[pos + n]) ++n;
    bool same = n == len && (!args || j == index);
    for (uint64_t k = 0; same && k < n; ++k) same = here[pos + k] == area[start + k];
    if (same) return *out = dst_lo + pos + (v - lo - start), true;
    if (args && j == 0 && index == 0 && program_name(here, n, area + start, len, v - lo - start, out))
      return *out += dst_lo, true;
    pos += n + 1;
  }
  violation(what);
  for (uint64_t k = 0; k < len && k < 200; ++k) {
    char c[2] = {area[start + k], 0};
    message_.text(c);
  }
  message_.text("\", which this version's process does not have");
  return false;
}

void Engine::target_missing(uint64_t v, const Object& o) {
  fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
  message_.text(" points to ");
  describe(message_, o);
  message_.text("+").number(v - o.addr);
  if (o.flags & kFromLibrary)
    message_.text(", allocated inside a library: not transferred (no library adapter covers this pointer's type: "
                  "stfw/README.md, Library state)");
  else
    message_.text(", which does not exist in ").text(config_.backward ? "v1" : "v2");
  uint32_t type = 0, index = 0;  // the fix: the library's pointer left to v2, or the holder's transfer code
  if (o.flags & kFromLibrary)
    advise_current("NO_TRANSFER");
  else if (current_member(&type, &index))
    advise_plugin(type);
}

// Both versions' read-only data (the ranges dwarfmeta found: .rodata*): the
// source's copied once from its process, the destination's read in place.
bool Engine::literal_spaces() {
  if (literals_ready_) return true;
  const uint32_t max = LiteralSpace::kMaxRanges;
  for (uint32_t i = 0; i < src_meta().range_count() && i < max; ++i) {
    const auto& range = src_meta().range(i);
    uint64_t size = range.end - range.start, at = range.start + config_.src_bias;
    char* copy = alloc<char>(size);
    if (!copy) return false;
    if (!env_->read_source || env_->read_source(env_->ctx, at, copy, size) != long(size)) {
      violation("points to an unreadable string literal");
      return false;
    }
    literal_src_.start[i] = at, literal_src_.end[i] = at + size, literal_src_.bytes[i] = copy;
    literal_src_.count = i + 1;
  }
  for (uint32_t i = 0; i < dst_meta().range_count() && i < max; ++i) {
    const auto& range = dst_meta().range(i);
    uint64_t at = range.start + config_.dst_bias;
    literal_dst_.start[i] = at, literal_dst_.end[i] = range.end + config_.dst_bias;
    literal_dst_.bytes[i] = reinterpret_cast<const char*>(at);
    literal_dst_.count = i + 1;
  }
  LiteralSpace* spaces[2] = {&literal_src_, &literal_dst_};
  for (LiteralSpace* space : spaces) {  // whole strings indexed by content
    uint64_t count = literal_slots(*space);
    uint64_t* slots = alloc<uint64_t>(count);
    if (!slots) return false;
    index_literals(*space, slots, count);
  }
  return literals_ready_ = true;
}

// A pointer into a string literal: the same position in this version's literals
// (string_literals.h: the string holding it, its index among equal strings, the
// offset), so that the backward transfer brings it back to the very same byte.
bool Engine::string_literal(uint64_t v, uint64_t* out) {
  if (!literal_spaces()) return false;
  LiteralMap m = map_literal(literal_src_, literal_dst_, v, out);
  if (m == LiteralMap::kMapped) return result_.literals++, true;
  char text[64] = "";
  if (env_->read_source) env_->read_source(env_->ctx, v, text, sizeof text - 1);
  text[sizeof text - 1] = 0;
  violation("points to the string literal \"");
  message_.text(text);
  if (m == LiteralMap::kUnknown)
    message_.text("\", which ").text(config_.backward ? "v1" : "v2").text(" does not have");
  else
    message_.text("\", which ")
        .text(config_.backward ? "v1" : "v2")
        .text(" holds in fewer places (the linker merged equal strings or tails): the round trip could not "
              "bring it back to the same byte; give the pointer a transfer hook");
  return false;
}

}  // namespace ttst::stfw::engine_detail
