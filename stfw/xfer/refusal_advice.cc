// refusal_advice.cc — the line that resolves a refusal. Every refusal ends with
// "; fix: ..." naming the exact annotation (as the ttst.h line and as ttst-cc's
// TTST_ANNOTATIONS form, both copy-pasteable) or the transfer plugin's functions
// that would let the update pass or move on:
//   ...; fix: add TTST_IXFER(struct item.where); to the new version (ttst.h; or
//   ttst-cc's TTST_ANNOTATIONS="IXFER(struct item.where)")
// The supervisor shows it as the refusal's advice (supervisor/agent_transfer.cc).
// One place builds the advice per refusal kind: the sites call advise*() right
// after fail() / fail_at_current(); finish() writes it after the root path.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/advice_text.h"
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

namespace {
// A fix is written whole or not at all (Message::text cuts at the buffer's end, and
// a cut line would not parse): room for the words around the arguments.
constexpr uint64_t kArgsRoom = 64;
}  // namespace

Message& Engine::advice_args() {
  advice_args_.used = 0, advice_args_buf_[0] = 0;
  return advice_args_;
}

void Engine::advise(const char* kind) {
  if (!advice_allowed_ || !advice_args_buf_[0] || advice_args_.used + 1 >= advice_args_.size) return;  // cut: none
  if (advice_.used + 2 * advice_args_.used + kArgsRoom * 2 >= advice_.size) return;  // would not fit whole
  if (advice_.used) advice_.text(advice::kOr);
  advice::annotation(advice_, kind, advice_args_buf_);
}

// A struct's plugin functions, as `ttst-meta xfer-skeleton` names them.
void Engine::advise_plugin(uint32_t src_type) {
  advice_args();
  spell_type(advice_args_, src_meta(), src_meta().strip(src_type));
  if (!advice_allowed_ || !advice_args_buf_[0] || advice_.used + kArgsRoom * 8 >= advice_.size) return;
  if (advice_.used) advice_.text(advice::kOr);
  advice::plugin(advice_, advice_args_buf_, false);
}

void Engine::advise_plugin_global(const char* id) {
  if (!advice_allowed_ || !id || !*id || advice_.used + kArgsRoom * 8 >= advice_.size) return;
  if (advice_.used) advice_.text(advice::kOr);
  advice::plugin(advice_, id, true);
}

// The transfer plugin's own failure (its function returned non-zero, called
// ttst_xfer_fail or misused the API): the function to correct, named as the
// plugin's table gives it. Only when nothing better was advised.
void Engine::advise_plugin_function(const char* name) {
  if (!advice_allowed_ || advice_.used || !name || !*name) return;
  advice_.text("correct ").text(name).text(" in the transfer plugin (ttst_xfer.h; rebuild it with ttst-cc --xfer-plugin)");
  advice_.text(", or drop its entry from TTST_XFER_PLUGIN(...) to leave its target to the automatic transfer");
}

// A type as annotations name it: "struct S" / "union U" / "enum E", else the
// typedef naming an anonymous one, else a base type's name.
void Engine::spell_type(Message& to, const View& v, uint32_t t) const {
  t = v.strip(t);
  const ImageType& ty = v.type(t);
  const char* tag = ty.kind == kStruct ? "struct " : ty.kind == kUnion ? "union " : ty.kind == kEnum ? "enum " : "";
  if (ty.name != dwarfmeta::image::kNone) {
    to.text(tag).text(v.str(ty.name));
    return;
  }
  for (uint32_t u = 1; u < v.type_count(); ++u)  // an anonymous struct: its typedef
    if (v.type(u).kind == kTypedef && v.type(u).name != dwarfmeta::image::kNone && v.strip(u) == t) {
      to.text(v.str(v.type(u).name));
      return;
    }
}

void Engine::spell_member(Message& to, uint32_t type, uint32_t index) const {
  const ImageType& ty = src_meta().type(src_meta().strip(type));
  spell_type(to, src_meta(), type);
  if (index < src_meta().member_count(ty)) to.text(".").text(src_meta().str(src_meta().members(ty)[index].name));
}

bool Engine::current_member(uint32_t* type, uint32_t* index) const {
  for (uint32_t i = path_depth_; i-- > 0;)
    if (path_[i].name && path_[i].holder_type) return *type = path_[i].holder_type, *index = path_[i].holder_index, true;
  return false;
}

bool Engine::spell_current_holder(Message& to) const {
  uint32_t type = 0, index = 0;
  if (current_member(&type, &index)) return spell_member(to, type, index), true;
  if (current_ < object_count_ && (objects_[current_].flags & kGlobal)) {
    to.text(src_meta().str(src_meta().global_at(objects_[current_].src_global).id));  // state ID: a static's too
    return true;
  }
  return false;  // an element of a heap array (no member names it)
}

void Engine::advise_current(const char* kind) {
  if (spell_current_holder(advice_args())) advise(kind);
}

// The struct member holding the pointer that first reached object `index` (its
// parent link, root_paths.cc): its struct type and member index.
bool Engine::parent_member(uint32_t index, uint32_t* member_type, uint32_t* member_index) {
  if (!parents_ || index >= object_count_ || parents_[index].parent >= object_count_) return false;
  const Object& holder = objects_[parents_[index].parent];
  uint32_t type = holder.src_type;
  uint64_t off = parents_[index].offset;
  if (!type) return false;
  const uint64_t elem = type_size(src_meta(), type);
  if (!(holder.flags & kGlobal) && elem) off %= elem;
  *member_type = 0;
  for (int depth = 0; depth < 16; ++depth) {  // down to the innermost member holding `off`
    const ImageType& t = src_meta().type(src_meta().strip(type));
    if (t.kind == kArray) {
      const uint64_t size = type_size(src_meta(), t.target);
      if (!size) return false;
      type = t.target, off %= size;
      continue;
    }
    if (t.kind != kStruct) break;
    bool found = false;
    for (uint32_t i = 0; i < src_meta().member_count(t) && !found; ++i) {
      const ImageMember& m = src_meta().members(t)[i];
      const uint64_t size = type_size(src_meta(), m.type);
      if (m.bit_size || off < m.offset || off - m.offset >= (size ? size : 1)) continue;
      *member_type = src_meta().strip(type), *member_index = i, type = m.type, off -= m.offset, found = true;
    }
    if (!found) return false;
  }
  return *member_type != 0;
}

void Engine::advise_parent(uint32_t index, const char* kind) {
  uint32_t type = 0, member = 0;
  if (!parent_member(index, &type, &member)) return;
  spell_member(advice_args(), type, member);
  advise(kind);
}

// An untyped object with a pointer-looking word: the `void *` / `char *` member
// that first reached it, declared to point to a struct of the object's size (each
// such struct of the source offered; none: no line).
void Engine::advise_points_to(const Object& o) {
  uint32_t member_type = 0, member_index = 0;
  if (!parent_member(uint32_t(&o - objects_), &member_type, &member_index)) return;
  // POINTS_TO is for `void *` / `char *` members only (a typed pointer's type is its own evidence).
  const ImageMember& m = src_meta().members(src_meta().type(member_type))[member_index];
  const ImageType& mt = src_meta().type(src_meta().strip(m.type));
  const uint32_t pointee = mt.kind == kPointer ? src_meta().strip(mt.target) : 1;
  if (pointee != 0 && !(src_meta().type(pointee).kind == kBase && src_meta().type(pointee).size == 1)) return;
  uint32_t offered = 0;
  for (uint32_t t = 1; t < src_meta().type_count() && offered < 3; ++t) {
    const ImageType& ty = src_meta().type(t);
    if (ty.kind != kStruct || ty.size != o.size || ty.name == dwarfmeta::image::kNone) continue;
    spell_member(advice_args(), member_type, member_index);
    advice_args_.text(", ");
    spell_type(advice_args_, src_meta(), t);
    advise("POINTS_TO");
    ++offered;
  }
  spell_member(advice_args(), member_type, member_index);  // a buffer: its bytes data, never pointers
  advice_args_.text(", char");
  advise("POINTS_TO");
}

// What a mixed member's value says of its tag's meaning: an integer (in no
// mapping), a dead pointer (into freed heap: a recycled object's stale bits), or a
// pointer to a live object of a type (an untyped one: char when no word of it
// looks like a pointer, a string's buffer; else no evidence, 0).
uint32_t Engine::tag_evidence(uint64_t v) {
  if (in_no_mapping(v)) return kTagInt;
  const ttst_heap_desc* d = base_descriptor(v);
  if (!d) return v >= config_.src_heap_lo && v < config_.src_heap_hi && object_holding(v) < 0 ? kTagDead : 0;
  const Object& target = objects_[reinterpret_cast<uint64_t>(d->prev) & 0xffffffffu];
  if (target.src_type) return src_meta().strip(target.src_type);
  const uint8_t* bytes = source_bytes(target.addr, target.size);
  for (uint64_t k = 0; bytes && k + 8 <= target.size; k += 8)
    if (looks_like_pointer(load_uint(bytes + k, 8))) return 0;
  return bytes ? kTagChar : 0;
}

// The tag values sibling `tag_index` takes in the source's objects of src_type, each
// with what the mixed member holds then, decided by the majority of its values:
// int (integers, or dead pointers only) or one type. Returns the values that
// disagree with their tag's meaning (the ambiguity a line would settle), or -1 when
// the sibling tells nothing apart; `to` gets ", V:T" per value, ascending.
int64_t Engine::tag_mapping(uint32_t src_type, uint32_t src_index, uint32_t tag_index, Message* to) {
  constexpr uint32_t kMaxTags = 16;
  struct Tag {
    int64_t value;
    uint32_t type, typed, ints, deads, others;
  } tags[kMaxTags];
  uint32_t n = 0;
  const ImageType& sty = src_meta().type(src_type);
  const ImageMember& member = src_meta().members(sty)[src_index];
  const ImageMember& tag_member = src_meta().members(sty)[tag_index];
  const uint64_t size = type_size(src_meta(), src_type);
  if (!size) return -1;
  for (uint32_t i = global_count_; i < object_count_; ++i) {
    const Object& o = objects_[i];
    if (!o.src_type || src_meta().strip(o.src_type) != src_type) continue;
    const uint8_t* base = source_bytes(o.addr, o.size);
    for (uint64_t at = 0; base && at + size <= o.size; at += size) {
      const uint64_t v = load_uint(base + at + member.offset, 8);
      const uint32_t kind = v ? tag_evidence(v) : 0;
      if (!kind) continue;
      const int64_t value = tag_value(tag_member, base + at);
      uint32_t k = 0;
      while (k < n && tags[k].value != value) ++k;
      if (k == n) {
        if (n == kMaxTags) return -1;
        tags[n++] = Tag{value, 0, 0, 0, 0, 0};
      }
      Tag& t = tags[k];
      if (kind == kTagInt) ++t.ints;
      else if (kind == kTagDead) ++t.deads;
      else if (!t.type || t.type == kind) t.type = kind, ++t.typed;
      else ++t.others;
    }
  }
  int64_t conflicts = 0;
  bool two = false;
  for (uint32_t k = 0; k < n; ++k) {
    Tag& t = tags[k];
    if (t.typed > t.ints) {
      conflicts += t.ints + t.others;
    } else {
      conflicts += t.typed + t.others;
      t.type = kTagInt;
    }
    two = two || t.type != tags[0].type;
  }
  if (!two) return -1;
  for (uint32_t done = 0; to && done < n; ++done) {  // ascending tag values
    uint32_t best = n;
    for (uint32_t k = 0; k < n; ++k)
      if (tags[k].type && (best == n || tags[k].value < tags[best].value)) best = k;
    to->text(", ").signed_number(tags[best].value).text(":");
    if (tags[best].type == kTagInt)
      to->text("int");
    else if (tags[best].type == kTagChar)
      to->text("char");
    else
      spell_type(*to, src_meta(), tags[best].type);
    tags[best].type = 0;
  }
  return conflicts;
}

// A mixed member: TTST_TAGGED by the sibling whose values best tell what the
// member holds (fewest values against their tag's meaning), with every value seen.
void Engine::advise_tagged(uint32_t src_type, uint32_t src_index) {
  const ImageType& sty = src_meta().type(src_type);
  int64_t best_conflicts = -1;
  uint32_t best = 0;
  for (uint32_t i = 0; i < src_meta().member_count(sty); ++i) {
    const ImageMember& m = src_meta().members(sty)[i];
    const uint8_t kind = src_meta().type(src_meta().strip(m.type)).kind;
    if (i == src_index || (kind != kBase && kind != kEnum)) continue;
    const int64_t conflicts = tag_mapping(src_type, src_index, i, nullptr);
    if (conflicts >= 0 && (best_conflicts < 0 || conflicts < best_conflicts)) best_conflicts = conflicts, best = i;
  }
  if (best_conflicts < 0) return;
  spell_member(advice_args(), src_type, src_index);
  advice_args_.text(", ").text(src_meta().str(src_meta().members(sty)[best].name));
  tag_mapping(src_type, src_index, best, &advice_args_);
  advise("TAGGED");
}

// A composite local (DW_OP_piece: a struct GCC split into registers at -O2,
// frame_roots.cc refuse_piece_locals): no annotation makes it a root; keeping it
// whole in its stack slot does (a struct local there is one), and so does a static
// (a global, paired by name). Both versions need the same change.
void Engine::advise_piece_local(const char* function, const char* local) {
  if (!advice_allowed_ || advice_.used || !function || !local) return;
  const char* plain = local;  // an inlined function's local: "inlined::x" -> "x"
  for (const char* c = local; *c; ++c)
    if (c[0] == ':' && c[1] == ':') plain = c + 2;
  advice_.text("keep ").text(function).text("::").text(local).text(" whole in memory in both versions: use its ");
  advice_.text("address once after it is set, e.g. __asm__ volatile(\"\" : : \"r\"(&").text(plain);
  advice_.text(") : \"memory\"); (a struct local in its stack slot is a root), or make it static");
}

}  // namespace ttst::stfw::engine_detail
