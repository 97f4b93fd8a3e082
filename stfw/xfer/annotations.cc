// annotations.cc — see annotations.h.
#include "stfw/xfer/annotations.h"
#include "stfw/xfer/annotation_text.h"

namespace ttst::stfw {
namespace {

using text::starts;

using dwarfmeta::image::ImageAnnotation;
using dwarfmeta::image::ImageType;
using dwarfmeta::image::View;

constexpr uint8_t kIxfer = 1, kPxfer = 2, kRenamedFrom = 3, kNoTransfer = 4, kContainer = 7, kPointsTo = 8, kUsedN = 9,
                  kDropped = 10, kKeepNew = 11, kFreeSlots = 12, kTagged = 14, kEmbedded = 17;
constexpr uint8_t kBaseKind = 1, kStructKind = 2, kUnionKind = 3, kPointerKind = 5, kTypedefKind = 7;

bool eq(const char* a, const char* b) { return View::compare(a, b) == 0; }
const char* basename(const char* path) {
  const char* b = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/') b = p + 1;
  return b;
}
// The member of struct `ct` named by "key=NAME" in a comma-separated `arg`: its
// index, -1 when the key is absent, -2 when NAME is no member of `ct`.
int64_t sibling(const View& v, const ImageType& ct, const char* arg, const char* key) {
  for (const char* p = arg; *p; ++p) {
    if ((p != arg && p[-1] != ',') || !starts(p, key)) continue;
    const char* name = p;
    while (*name != '=') ++name;
    ++name;
    uint64_t len = 0;
    while (name[len] && name[len] != ',') ++len;
    for (uint32_t m = 0; m < v.member_count(ct); ++m) {
      const char* mn = v.str(v.members(ct)[m].name);
      uint64_t j = 0;
      while (j < len && mn[j] == name[j]) ++j;
      if (j == len && !mn[j]) return m;
    }
    return -2;
  }
  return -1;
}

Rule rule_of(uint8_t kind) {
  return kind == kIxfer ? kRuleBytes : kind == kPxfer ? kRulePointer : kind == kNoTransfer || kind == kKeepNew ? kRuleSkip : kRuleDefault;
}

}  // namespace

bool Annotations::init(const View& older, const View& newer, void* (*scratch)(void*, uint64_t), void* ctx,
                       const ImageAnnotation** bad, bool* bad_in_newer) {
  *bad = nullptr;
  scratch_ = scratch, ctx_ = ctx;
  uint32_t n = older.annotation_count() + newer.annotation_count();
  global_capacity_ = n + 1, member_capacity_ = 8 * n + 8, names_cap_ = 4096;
  globals_ = static_cast<GlobalEntry*>(scratch(ctx, sizeof(GlobalEntry) * global_capacity_));
  members_ = static_cast<MemberEntry*>(scratch(ctx, sizeof(MemberEntry) * member_capacity_));
  names_ = static_cast<char*>(scratch(ctx, names_cap_));
  tagged_.set_scratch(scratch, ctx), embedded_.set_scratch(scratch, ctx);
  type_capacity_ = 64;
  types_ = static_cast<TypeEntry*>(scratch(ctx, sizeof(TypeEntry) * type_capacity_));
  if (!globals_ || !members_ || !names_ || !types_) return false;
  for (int side = 0; side < 2; ++side) {
    const View& v = side ? newer : older;
    for (uint32_t i = 0; i < v.annotation_count(); ++i) {
      const ImageAnnotation& a = v.annotation(i);
      if (a.kind == kTagged) {  // TTST_TAGGED: read in both versions (tagged_unions.h)
        if (!add_tagged(v, side ? older : newer, side == 1, a)) {
          *bad = &a, *bad_in_newer = side == 1;
          return false;
        }
        continue;
      }
      if (a.kind == kEmbedded) {  // TTST_EMBEDDED: its own version must resolve it; the other where it can
        if (!embedded_.add(v, side == 1, v.str(a.target), v.str(a.arg))) {
          *bad = &a, *bad_in_newer = side == 1;
          return false;
        }
        embedded_.add(side ? older : newer, side == 0, v.str(a.target), v.str(a.arg));
        continue;
      }
      if (a.kind != kIxfer && a.kind != kPxfer && a.kind != kNoTransfer && a.kind != kRenamedFrom &&
          a.kind != kContainer && a.kind != kPointsTo && a.kind != kUsedN && a.kind != kDropped && a.kind != kKeepNew &&
          a.kind != kFreeSlots)
        continue;
      if ((a.kind == kRenamedFrom || a.kind == kDropped) && !side) continue;  // about a version older than v1
      if (a.kind == kDropped) {  // names a member of the OLDER version's struct
        if (!resolve_members(older, false, v.str(a.target), kRuleDefault, nullptr, false, nullptr, 0, true)) {
          *bad = &a, *bad_in_newer = true;
          return false;
        }
        continue;
      }
      if (!add(v, side == 1, a)) {
        *bad = &a, *bad_in_newer = side == 1;
        return false;
      }
    }
  }
  return true;
}

bool Annotations::add(const View& v, bool newer, const ImageAnnotation& a) {
  const char* target = v.str(a.target);
  // A member path has a '.' after its last "::" ("file.c::name" is a file-static global).
  const char* last = target;
  for (const char* p = target; *p; ++p)
    if (p[0] == ':' && p[1] == ':') last = p + 2;
  bool member = false;
  for (const char* p = last; *p && !member; ++p) member = *p == '.';
  if (a.kind == kContainer) ++container_count_;
  if (!member && (starts(target, "struct ") || starts(target, "union "))) {
    if (a.kind == kContainer) return add_container_type(v, newer, target);  // TTST_CONTAINER(struct tag, ...)
    return false;
  }
  if (member && a.kind == kPointsTo) {  // "to=T": T of this image (the target of a pointer type to it, else by name)
    const char* arg = v.str(a.arg);
    uint32_t pointer = starts(arg, "to=") ? pointer_type_to(v, arg + 3) : 0;
    uint32_t pointee = pointer ? v.type(pointer).target : starts(arg, "to=") ? type_named(v, arg + 3) : 0;
    return pointee && resolve_members(v, newer, target, kRuleDefault, nullptr, false, nullptr, pointee);
  }
  if (member && a.kind == kUsedN)  // "used=N": a sibling of the holder
    return starts(v.str(a.arg), "used=") && resolve_members(v, newer, target, kRuleDefault, nullptr, false, v.str(a.arg));
  if (member && a.kind == kFreeSlots) return add_free_slots(v, newer, target, v.str(a.arg));
  if (a.kind == kPointsTo || a.kind == kUsedN) return false;  // members only
  if (member && a.kind == kKeepNew) return false;              // globals only
  if (member)
    return resolve_members(v, newer, target, rule_of(a.kind), a.kind == kRenamedFrom ? v.str(a.arg) : nullptr,
                           a.kind == kContainer, v.str(a.arg));
  // A global: the annotating file's static first, then the external (or func::name).
  const char* file = basename(v.str(a.file));
  uint64_t need = 0;
  while (file[need]) ++need;
  for (const char* p = target; *p; ++p) ++need;
  if (names_used_ + need + 3 > names_cap_) return false;
  char* cand = names_ + names_used_;
  uint64_t k = 0;
  for (const char* p = file; *p; ++p) cand[k++] = *p;
  cand[k++] = ':', cand[k++] = ':';
  for (const char* p = target; *p; ++p) cand[k++] = *p;
  cand[k] = 0;
  const dwarfmeta::image::ImageGlobal* g = v.global(cand);
  if (!g) g = v.global(target);
  if (!g && a.kind == kRenamedFrom) return add_local_rename(v, target, v.str(a.arg));  // "func::local"
  if (!g && a.kind == kContainer && starts(v.str(a.arg), "header=")) {  // a header wrapper (a function)
    const dwarfmeta::image::ImageFunction* f = v.function(target);
    uint64_t k = 0;
    for (const char* p = v.str(a.arg) + 7; *p >= '0' && *p <= '9'; ++p) k = k * 10 + uint64_t(*p - '0');
    if (!f || k == 0 || k > 4096 || wrapper_count_ == 16) return false;
    wrappers_[wrapper_count_++] = WrapperEntry{v.str(f->id), k};
    return true;
  }
  if (!g && a.kind == kContainer) return add_container_type(v, newer, target);  // a type name
  if (!g || global_count_ == global_capacity_) return false;
  GlobalEntry& e = globals_[global_count_++];
  e.rule = rule_of(a.kind);
  e.id = v.str(g->id);
  e.old_id = a.kind == kRenamedFrom ? v.str(a.arg) : nullptr;
  e.container = a.kind == kContainer;
  e.keep_new = a.kind == kKeepNew;
  e.keep_at = e.keep_new && starts(v.str(a.arg), "at=") ? v.str(a.arg) + 3 : nullptr;
  if (e.keep_at) e.rule = kRuleDefault;  // the global itself is transferred
  if (e.keep_new) ++keep_new_count_;
  e.free_form = 0, e.free_link = nullptr;
  if (a.kind == kFreeSlots) return add_free_global(v, newer, *g, e, v.str(a.arg));
  (void)newer;
  return true;
}

// Every struct/union type of `v` the target names (a type defined in several
// compilation units has several entries), down the ".a.b" member path.
bool Annotations::resolve_members(const View& v, bool newer, const char* target, Rule rule,
                                  const char* old_name, bool container, const char* arg, uint32_t pointee,
                                  bool dropped) {
  uint8_t want = 0;  // 0: a typedef name
  if (starts(target, "struct ")) want = kStructKind, target += 7;
  else if (starts(target, "union ")) want = kUnionKind, target += 6;
  // head = the type's name, up to the first '.'
  uint64_t head_len = 0;
  while (target[head_len] && target[head_len] != '.') ++head_len;
  if (!target[head_len] || head_len == 0) return false;
  bool found = false;
  for (uint32_t t = 1; t < v.type_count(); ++t) {
    const ImageType& ty = v.type(t);
    if (ty.name == dwarfmeta::image::kNone || (ty.flags & dwarfmeta::image::kTypeDeclaration)) continue;
    if (want ? ty.kind != want : ty.kind != kTypedefKind) continue;
    const char* name = v.str(ty.name);
    uint64_t k = 0;
    while (k < head_len && name[k] == target[k]) ++k;
    if (k != head_len || name[k]) continue;
    // Follow the member path.
    uint32_t cur = v.strip(t);
    const char* p = target + head_len;
    int64_t index = -1;
    while (*p == '.') {
      ++p;
      const ImageType& ct = v.type(cur);
      if (ct.kind != kStructKind && ct.kind != kUnionKind) {
        index = -1;
        break;
      }
      uint64_t len = 0;
      while (p[len] && p[len] != '.') ++len;
      index = -1;
      for (uint32_t m = 0; m < v.member_count(ct) && index < 0; ++m) {
        const char* mn = v.str(v.members(ct)[m].name);
        uint64_t j = 0;
        while (j < len && mn[j] == p[j]) ++j;
        if (j == len && !mn[j]) index = m;
      }
      if (index < 0) break;
      p += len;
      if (*p == '.') cur = v.strip(v.members(ct)[index].type);
    }
    if (index < 0 || *p) continue;
    // CONTAINER's "chunk=M" and "count=N": siblings of the holder member in `cur`.
    int64_t chunk = container ? sibling(v, v.type(cur), arg, "chunk=") : -1;
    int64_t count = container ? sibling(v, v.type(cur), arg, "count=") : -1;
    int64_t used = !container && arg ? sibling(v, v.type(cur), arg, "used=") : -1;
    if (chunk == -2 || count == -2 || used == -2) continue;  // names no sibling: the annotation names nothing here
    if (used >= 0 && v.type(v.strip(v.members(v.type(cur))[index].type)).kind != kPointerKind) continue;
    if (used >= 0) ++used_count_;
    if (pointee && v.type(v.strip(v.members(v.type(cur))[index].type)).kind != kPointerKind) continue;  // not a pointer
    if (pointee) ++pointee_count_;
    if (!room_for_member()) return false;  // a type defined in many compilation units: grown
    members_[member_count_++] = MemberEntry{rule,  newer,   cur,  uint32_t(index), old_name, container, chunk,
                                            count, pointee, used, dropped,         0,        -1,        0};
    if (!index_member(member_count_ - 1)) return false;
    found = true;
  }
  return found;
}

// TTST_TAGGED: must name a pointer member and its sibling in its own version; read
// in the other version too where it names them there. An inert member entry marks
// the struct annotated, so no fast path copies it as bytes.
bool Annotations::add_tagged(const View& own, const View& other, bool newer, const ImageAnnotation& a) {
  const char* target = own.str(a.target);
  if (!tagged_.add(own, newer, true, target, own.str(a.arg))) return false;
  if (!resolve_members(own, newer, target, kRuleDefault, nullptr)) return false;
  if (tagged_.add(other, !newer, false, target, own.str(a.arg))) resolve_members(other, !newer, target, kRuleDefault, nullptr);
  return !!members_;
}

bool Annotations::add_member_rule(const View& v, bool newer, const char* target, Rule rule) {
  if (!members_) return false;
  return resolve_members(v, newer, target, rule, nullptr);
}

Rule Annotations::global_rule(const char* id) const {
  for (uint32_t i = 0; i < global_count_; ++i)
    if (globals_[i].rule != kRuleDefault && eq(globals_[i].id, id)) return globals_[i].rule;
  return kRuleDefault;
}

Rule Annotations::member_rule(bool newer, uint32_t type, uint32_t index) const {
  for (const MemberEntry* m = first_entry(newer, type, index); m; m = next_entry(m))
    if (m->rule != kRuleDefault) return m->rule;
  return kRuleDefault;
}

bool Annotations::container_member(bool newer, uint32_t type, uint32_t index, int64_t* chunk, int64_t* count) const {
  for (const MemberEntry* m = first_entry(newer, type, index); m; m = next_entry(m))
    if (m->container) return *chunk = m->chunk, *count = m->count, true;
  return false;
}

// TTST_CONTAINER(T, ...): "struct tag", "union tag", a typedef name or a tag; every
// type of `v` so named (one per compilation unit), stripped.
bool Annotations::add_container_type(const View& v, bool newer, const char* name) {
  uint8_t want = 0;
  if (starts(name, "struct ")) want = kStructKind, name += 7;
  else if (starts(name, "union ")) want = kUnionKind, name += 6;
  bool found = false;
  for (int pass = 0; pass < 2 && !found; ++pass)  // typedef names first, then tags
    for (uint32_t t = 1; t < v.type_count(); ++t) {
      const ImageType& ty = v.type(t);
      bool kind_ok = want ? ty.kind == want
                          : (pass == 0 ? ty.kind == kTypedefKind : ty.kind == kStructKind || ty.kind == kUnionKind);
      if (!kind_ok || ty.name == dwarfmeta::image::kNone || !eq(v.str(ty.name), name)) continue;
      if (type_count_ == type_capacity_) {
        auto* bigger = static_cast<TypeEntry*>(scratch_(ctx_, sizeof(TypeEntry) * type_capacity_ * 2));
        if (!bigger) return false;
        for (uint32_t i = 0; i < type_count_; ++i) bigger[i] = types_[i];
        types_ = bigger, type_capacity_ *= 2;
      }
      types_[type_count_++] = TypeEntry{newer, v.strip(t)};
      found = true;
    }
  return found;
}

uint64_t Annotations::header_bytes(const char* function_id) const {
  for (uint32_t i = 0; i < wrapper_count_; ++i)
    if (eq(wrappers_[i].function, function_id)) return wrappers_[i].header;
  return 0;
}

bool Annotations::container_type(bool newer, uint32_t type) const {
  for (uint32_t i = 0; i < type_count_; ++i)
    if (types_[i].newer == newer && types_[i].type == type) return true;
  return false;
}

bool Annotations::container_global(const char* id) const {
  for (uint32_t i = 0; i < global_count_; ++i)
    if (globals_[i].container && eq(globals_[i].id, id)) return true;
  return false;
}

uint32_t Annotations::member_pointee(bool newer, uint32_t type, uint32_t index) const {
  for (const MemberEntry* m = first_entry(newer, type, index); m; m = next_entry(m))
    if (m->pointee) return m->pointee;
  return 0;
}

bool Annotations::member_pointee_only(bool newer, uint32_t type, uint32_t index) const {
  for (const MemberEntry* m = first_entry(newer, type, index); m; m = next_entry(m))
    if (m->rule != kRuleDefault || m->container || m->used >= 0 || m->free_form != 0) return false;
  return true;
}

bool Annotations::member_free_link_only(bool newer, uint32_t type, uint32_t index) const {
  bool link = false;
  for (const MemberEntry* m = first_entry(newer, type, index); m; m = next_entry(m)) {
    if (m->rule != kRuleDefault || m->container || m->used >= 0 || m->pointee || m->free_form != kFreeLink) return false;
    link = true;
  }
  return link;
}

bool Annotations::member_declares(bool newer, uint32_t type, uint32_t index) const {
  for (const MemberEntry* m = first_entry(newer, type, index); m; m = next_entry(m))
    if (m->rule != kRuleDefault || m->container || m->pointee || (m->free_form && m->free_form != kFreeLink))
      return true;
  return false;
}

int64_t Annotations::member_used(bool newer, uint32_t type, uint32_t index) const {
  for (const MemberEntry* m = first_entry(newer, type, index); m; m = next_entry(m))
    if (m->used >= 0) return m->used;
  return -1;
}

// A pointer type of `v` whose target, stripped, is the struct, union or typedef
// `name` ("struct tag", "union tag", a typedef name or a tag), else 0.
uint32_t Annotations::pointer_type_to(const View& v, const char* name) {
  uint8_t want = 0;
  if (starts(name, "struct ")) want = kStructKind, name += 7;
  else if (starts(name, "union ")) want = kUnionKind, name += 6;
  for (uint32_t t = 1; t < v.type_count(); ++t) {
    const ImageType& pt = v.type(t);
    if (pt.kind != kPointerKind || pt.target == 0) continue;
    for (uint32_t u = pt.target, hops = 0; u && hops < 16; ++hops) {  // down typedefs and qualifiers
      const ImageType& ty = v.type(u);
      bool named = ty.name != dwarfmeta::image::kNone && eq(v.str(ty.name), name);
      if (named && (want ? ty.kind == want
                         : (ty.kind == kTypedefKind || ty.kind == kStructKind || ty.kind == kUnionKind ||
                            ty.kind == kBaseKind)))  // POINTS_TO(holder, char): a char buffer
        return t;
      if (u == v.strip(u)) break;  // a struct, union or other: the end of the chain
      u = ty.target;
    }
  }
  return 0;
}

uint32_t Annotations::type_named(const View& v, const char* name) {
  uint8_t want = 0;
  if (starts(name, "struct ")) want = kStructKind, name += 7;
  else if (starts(name, "union ")) want = kUnionKind, name += 6;
  for (uint32_t t = 1; t < v.type_count(); ++t) {
    const ImageType& ty = v.type(t);
    if (ty.name == dwarfmeta::image::kNone || !eq(v.str(ty.name), name)) continue;
    if (want ? ty.kind == want : (ty.kind == kTypedefKind || ty.kind == kStructKind || ty.kind == kUnionKind))
      if (v.type(v.strip(t)).size > 0) return t;  // not a declaration
  }
  return 0;
}

bool Annotations::type_annotated(bool newer, uint32_t type) const {
  if (!may_name(newer, type)) return false;
  for (uint32_t i = 0; i < member_count_; ++i)
    if (members_[i].newer == newer && members_[i].type == type) return true;
  return false;
}

bool Annotations::global_keep_new(const char* id) const {
  for (uint32_t i = 0; i < global_count_; ++i)
    if (globals_[i].keep_new && !globals_[i].keep_at && eq(globals_[i].id, id)) return true;
  return false;
}

bool Annotations::keep_new_at(uint32_t i, const char** id, const char** path) const {
  for (uint32_t k = 0; k < global_count_; ++k)
    if (globals_[k].keep_at && i-- == 0) return *id = globals_[k].id, *path = globals_[k].keep_at, true;
  return false;
}

const char* Annotations::newer_id(const char* old_id) const {
  for (uint32_t i = 0; i < global_count_; ++i)
    if (globals_[i].old_id && eq(globals_[i].old_id, old_id)) return globals_[i].id;
  return nullptr;
}

const char* Annotations::older_id(const char* new_id) const {
  for (uint32_t i = 0; i < global_count_; ++i)
    if (globals_[i].old_id && eq(globals_[i].id, new_id)) return globals_[i].old_id;
  return nullptr;
}

const char* Annotations::older_member_name(uint32_t type, uint32_t index) const {
  for (const MemberEntry* m = first_entry(true, type, index); m; m = next_entry(m))
    if (m->old_name) return m->old_name;
  return nullptr;
}

bool Annotations::member_dropped(uint32_t type, uint32_t index) const {
  for (const MemberEntry* m = first_entry(false, type, index); m; m = next_entry(m))
    if (m->dropped) return true;
  return false;
}

int64_t Annotations::newer_member_renamed_from(uint32_t type, const char* old_name) const {
  if (!may_name(true, type)) return -1;
  for (uint32_t i = 0; i < member_count_; ++i) {
    const MemberEntry& m = members_[i];
    if (m.old_name && m.newer && m.type == type && eq(m.old_name, old_name)) return m.index;
  }
  return -1;
}

// FREE_SLOTS(holder[, count=N | link=M]): resolved like any member annotation,
// then each holder entry gets its form; "count=N" is also a USED_N on the holder
// (the slots past the count are stale), "link=M" adds an entry for member M of
// the holder's element type (the link), which marks that type a free list's.
bool Annotations::add_free_slots(const View& v, bool newer, const char* target, const char* arg) {
  uint32_t first = member_count_;
  bool counted = starts(arg, "count=");
  if (!resolve_members(v, newer, target, kRuleDefault, nullptr, false, counted ? arg : nullptr)) return false;
  // resolve_members reads "used=": the count sibling of "count=N" resolved here.
  uint32_t last = member_count_;
  bool any = false;
  for (uint32_t i = first; i < last; ++i) {
    MemberEntry& e = members_[i];
    const ImageType& holder_struct = v.type(e.type);
    const ImageType& holder = v.type(v.strip(v.members(holder_struct)[e.index].type));
    if (holder.kind != kPointerKind) continue;  // a holder is a pointer
    if (!arg[0]) {
      e.free_form = kFreePointer, e.free_arg = -1, any = true;
    } else if (counted) {
      int64_t count = sibling(v, holder_struct, arg, "count=");
      if (count < 0) continue;
      e.free_form = kFreeSlotArray, e.free_arg = count, e.used = count, any = true;
      ++used_count_;
    } else if (starts(arg, "upto=")) {  // FREE_UPTO(holder, end): a bump allocator's unused bytes
      int64_t end = sibling(v, holder_struct, arg, "upto=");
      if (end < 0 || v.type(v.strip(v.members(holder_struct)[end].type)).kind != kPointerKind) continue;
      e.free_form = kFreeRange, e.free_arg = end, any = true;
    } else if (starts(arg, "link=")) {
      // A `void *` holder: the element type its TTST_POINTS_TO (given before) declares.
      const uint32_t declared = member_pointee(newer, e.type, e.index);
      const uint32_t element_type = declared ? v.strip(declared) : v.strip(holder.target);
      const ImageType& element = v.type(element_type);
      int64_t link = element.kind == kStructKind ? sibling(v, element, arg, "link=") : -1;
      if (link < 0) continue;
      e.free_form = kFreeList, e.free_arg = link, any = true;
      if (!add_free_entry(newer, element_type, uint32_t(link), kFreeLink, -1)) return false;
    }
  }
  if (any) ++free_count_;
  return any;
}

// Entry i, just added, into both indexes (annotations.h). The chained hash is
// rebuilt twice as large, from the entries in their order, past half full.
bool Annotations::index_member(uint32_t i) {
  const uint32_t b = member_type_bit(members_[i].newer, members_[i].type);
  member_types_[b / 64] |= 1ull << (b % 64);
  const uint32_t key_bit = member_key_bit(members_[i].newer, members_[i].type, members_[i].index);
  member_keys_[key_bit / 64] |= 1ull << (key_bit % 64);
  if (2 * (member_chains_ + 1) > member_slot_capacity_) {
    const uint64_t capacity = member_slot_capacity_ ? 2 * member_slot_capacity_ : 64;
    auto* slots = static_cast<uint32_t*>(scratch_(ctx_, sizeof(uint32_t) * capacity));
    if (!slots) return false;
    for (uint64_t k = 0; k < capacity; ++k) slots[k] = 0;
    member_slots_ = slots, member_slot_capacity_ = capacity, member_chains_ = 0;
    for (uint32_t k = 0; k < i; ++k) members_[k].next_same = 0;
    for (uint32_t k = 0; k < i; ++k) link_member(k);
  }
  members_[i].next_same = 0;
  link_member(i);
  return true;
}

namespace {
uint64_t member_key(bool newer, uint32_t type, uint32_t index) {
  return (uint64_t(type) << 32 | index) ^ (uint64_t(newer) << 63);
}
}  // namespace

void Annotations::link_member(uint32_t i) {
  MemberEntry& e = members_[i];
  for (uint64_t h = address_slot(member_key(e.newer, e.type, e.index), member_slot_capacity_);;
       h = (h + 1) & (member_slot_capacity_ - 1)) {
    if (!member_slots_[h]) {
      member_slots_[h] = i + 1, ++member_chains_;
      return;
    }
    MemberEntry* m = &members_[member_slots_[h] - 1];
    if (m->newer != e.newer || m->type != e.type || m->index != e.index) continue;
    while (m->next_same) m = &members_[m->next_same - 1];
    m->next_same = i + 1;
    return;
  }
}

const Annotations::MemberEntry* Annotations::first_entry(bool newer, uint32_t type, uint32_t index) const {
  if (!member_named(newer, type, index)) return nullptr;
  for (uint64_t h = address_slot(member_key(newer, type, index), member_slot_capacity_);;
       h = (h + 1) & (member_slot_capacity_ - 1)) {
    if (!member_slots_[h]) return nullptr;
    const MemberEntry& m = members_[member_slots_[h] - 1];
    if (m.newer == newer && m.type == type && m.index == index) return &m;
  }
}

// One more member entry fits (the array doubled when full); false: out of memory.
bool Annotations::room_for_member() {
  if (member_count_ < member_capacity_) return true;
  auto* bigger = static_cast<MemberEntry*>(scratch_(ctx_, sizeof(MemberEntry) * member_capacity_ * 2));
  if (!bigger) return false;
  for (uint32_t i = 0; i < member_count_; ++i) bigger[i] = members_[i];
  members_ = bigger, member_capacity_ *= 2;
  return true;
}

bool Annotations::add_free_entry(bool newer, uint32_t type, uint32_t index, uint8_t form, int64_t arg) {
  if (!room_for_member()) return false;
  MemberEntry e{};
  e.newer = newer, e.type = type, e.index = index, e.chunk = e.count = e.used = -1;
  e.free_form = form, e.free_arg = arg;
  members_[member_count_++] = e;
  return index_member(member_count_ - 1);
}

Annotations::FreeForm Annotations::member_free(bool newer, uint32_t type, uint32_t index, int64_t* arg) const {
  for (const MemberEntry* m = first_entry(newer, type, index); m; m = next_entry(m))
    if (m->free_form) return *arg = m->free_arg, FreeForm(m->free_form);
  return kFreeNone;
}

bool Annotations::free_element_type(bool newer, uint32_t type) const {
  if (!may_name(newer, type)) return false;
  for (uint32_t i = 0; i < member_count_; ++i)
    if (members_[i].free_form == kFreeLink && members_[i].newer == newer && members_[i].type == type) return true;
  return false;
}

// FREE_SLOTS on a global holder: "" (it points to free memory) or "link=M" (a
// free list; M a member of the element type the global points to).
bool Annotations::add_free_global(const View& v, bool newer, const dwarfmeta::image::ImageGlobal& g, GlobalEntry& e,
                                  const char* arg) {
  const ImageType& holder = v.type(v.strip(g.type));
  if (holder.kind != kPointerKind) return --global_count_, false;
  if (!arg[0]) return e.free_form = kFreePointer, ++free_count_, true;
  const ImageType& element = v.type(v.strip(holder.target));
  int64_t link = starts(arg, "link=") && element.kind == kStructKind ? sibling(v, element, arg, "link=") : -1;
  if (link < 0) return --global_count_, false;
  e.free_form = kFreeList, e.free_link = v.str(v.members(element)[link].name);
  ++free_count_;
  return add_free_entry(newer, v.strip(holder.target), uint32_t(link), kFreeLink, -1);
}

Annotations::FreeForm Annotations::global_free(const char* id, const char** link) const {
  for (uint32_t i = 0; i < global_count_; ++i)
    if (globals_[i].free_form && eq(globals_[i].id, id)) return *link = globals_[i].free_link, FreeForm(globals_[i].free_form);
  return kFreeNone;
}

}  // namespace ttst::stfw

namespace ttst::stfw {

// RENAMED_FROM(func::local, old): a local of the frames at the update point renamed
// (frame_roots.cc pairs the older version's `func::old` with it). The function and
// its local must exist in this image; `old` may be given as "old" or "func::old".
bool Annotations::add_local_rename(const dwarfmeta::image::View& v, const char* target, const char* old) {
  const char* split = nullptr;
  for (const char* p = target; p[0]; ++p)
    if (p[0] == ':' && p[1] == ':') split = p;
  if (!split || split == target || !split[2] || !old[0] || global_count_ == global_capacity_) return false;
  uint64_t func_len = uint64_t(split - target), old_len = 0, bare = 1;
  for (const char* p = old; *p; ++p) ++old_len, bare = bare && !(p[0] == ':' && p[1] == ':');
  if (names_used_ + 2 * func_len + old_len + 4 > names_cap_) return false;
  char* func = names_ + names_used_;
  for (uint64_t k = 0; k < func_len; ++k) func[k] = target[k];
  func[func_len] = 0;
  const dwarfmeta::image::ImageFunction* f = v.function(func);
  if (!f) return false;
  bool found = false;
  for (uint32_t i = v.first_place(f->low); i < v.place_count() && !found; ++i) {
    if (v.place_at(i).function_low != f->low) break;
    found = eq(v.str(v.place_at(i).name), split + 2);
  }
  if (!found) return false;
  names_used_ += func_len + 1;
  const char* old_id = old;
  if (bare) {  // "old" -> "func::old"
    char* full = names_ + names_used_;
    uint64_t k = 0;
    for (uint64_t j = 0; j < func_len; ++j) full[k++] = target[j];
    full[k++] = ':', full[k++] = ':';
    for (const char* p = old; *p; ++p) full[k++] = *p;
    full[k++] = 0;
    names_used_ += k, old_id = full;
  }
  GlobalEntry& e = globals_[global_count_++];
  e = GlobalEntry{kRuleDefault, target, old_id, false, false, nullptr, 0, nullptr};
  return true;
}

}  // namespace ttst::stfw
