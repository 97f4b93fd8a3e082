// engine_plugin.cc — user transfer code (plugin/ttst_xfer.h, --xfer) in the engine:
// the plugin's table resolved against both images, the objects its functions write
// in place of the automatic walk (globals by state ID, heap objects and globals by
// type), the objects a pointer member owns (TTST_XFER_OWNS: not typed, allocated
// or written automatically), init callbacks for new state, and the C API the
// plugin calls back (pointer translation, the automatic transfer of the element or
// of one member, source reads, owned objects). Backward, every member of a v1
// element a plugin function writes is zeroed first, and the R counterparts of
// owned objects too, so a missing write shows in the diff; objects whose target
// has a forward function but no backward one are not written (R keeps P's bytes)
// and listed as unvalidated. Part of the engine (engine_impl.h); UNTRUSTED,
// freestanding: the plugin runs on the agent's stack, a crash in it is the
// agent's crash, and the line "running the transfer plugin's FN on OBJECT" left in
// the output names the function for the supervisor.
#include "stfw/xfer/engine_impl.h"

#include "stfw/xfer/engine_plugin_call.h"

namespace ttst::stfw::engine_detail {
namespace {

constexpr uint32_t kNoPluginObject = 0xffffffffu;

bool starts_with(const char* s, const char* prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return false;
  return true;
}

}  // namespace

// ---- the table ---------------------------------------------------------------------------

// The stripped struct/union types of `v` a target names ("struct S", "union U", a
// typedef name); up to kPluginTypes of them. `member`: the part after '.', if any.
uint32_t Engine::plugin_types(const View& v, const char* target, uint32_t* out, const char** member) {
  char name[128];
  uint32_t n = 0;
  uint8_t kind = 0;
  if (starts_with(target, "struct ")) kind = kStruct, target += 7;
  else if (starts_with(target, "union ")) kind = kUnion, target += 6;
  while (target[n] && target[n] != '.' && n + 1 < sizeof name) name[n] = target[n], ++n;
  name[n] = 0;
  if (member) *member = target[n] == '.' ? target + n + 1 : nullptr;
  uint32_t found = 0;
  for (uint32_t t = 1; t < v.type_count() && found < kPluginTypes; ++t) {
    const ImageType& ty = v.type(t);
    if (ty.name == dwarfmeta::image::kNone || !streq(v.str(ty.name), name)) continue;
    bool tagged = (ty.kind == kStruct || ty.kind == kUnion) && (kind == 0 || kind == ty.kind) &&
                  !(ty.flags & dwarfmeta::image::kTypeDeclaration);
    bool typedef_named = kind == 0 && ty.kind == kTypedef;
    if (!tagged && !typedef_named) continue;
    uint32_t s = v.strip(t);
    if (s == 0 || (v.type(s).kind != kStruct && v.type(s).kind != kUnion)) continue;
    bool dup = false;
    for (uint32_t k = 0; k < found; ++k) dup |= out[k] == s;
    if (!dup) out[found++] = s;
  }
  return found;
}

int32_t Engine::plugin_global(const View& v, const char* id) const {
  for (uint32_t g = 0; g < v.global_count(); ++g)
    if (streq(v.str(v.global_at(g).id), id)) return int32_t(g);
  return -1;
}

// A target of the table that names nothing in the version it applies to.
bool Engine::plugin_bad_target(const ttst_xfer_entry& e, const char* what, bool newer) {
  fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the transfer plugin's ")
      .text(e.fn ? e.name : "TTST_XFER_OWNS")
      .text(" names ")
      .text(what)
      .text(" `")
      .text(e.target)
      .text("`, which ")
      .text(newer ? "v2" : "v1")
      .text(" does not have (regenerate the skeleton with ttst-meta xfer-skeleton)");
  return false;
}

// Calls the plugin's entry and resolves each entry this direction uses.
bool Engine::resolve_plugin() {
  if (!config_.plugin_entry) return true;
  static_assert(sizeof(ttst_xfer_api) > 0, "");
  plugin_api_ = {TTST_XFER_VERSION, uint32_t(config_.backward ? TTST_XFER_BACKWARD : TTST_XFER_FORWARD),
                 &Engine::api_ptr, &Engine::api_whole, &Engine::api_member, &Engine::api_source,
                 &Engine::api_scratch, &Engine::api_new_owned, &Engine::api_owned, &Engine::api_fail,
                 &Engine::api_element, &Engine::api_keep, &Engine::api_room, &Engine::api_source_address, &Engine::api_place, &Engine::api_source_global};
  using Entry = const ttst_xfer_table* (*)(const ttst_xfer_api*);
  announce_plugin_call("ttst_xfer_plugin_entry", nullptr);
  const ttst_xfer_table* table = reinterpret_cast<Entry>(config_.plugin_entry)(&plugin_api_);
  config_.out[0] = 0;
  if (!table || table->magic != TTST_XFER_MAGIC || table->version != TTST_XFER_VERSION || table->count > 4096 ||
      (table->count && !table->entries)) {
    fail(TTST_STFW_STATUS_BAD_INPUT,
         "bad input: the transfer plugin's entry returned no valid table (build it with ttst-cc --xfer-plugin and "
         "TTST_XFER_PLUGIN(...) of ttst_xfer.h, the same version)");
    return false;
  }
  plugin_slots_ = alloc<PluginSlot>(table->count + 1);
  plugin_type_memo_ = alloc<uint32_t>(src_meta().type_count());
  if (failed()) return false;
  zero(plugin_type_memo_, src_meta().type_count() * sizeof(uint32_t));
  plugin_table_ = table;
  for (uint32_t i = 0; i < table->count && !failed(); ++i) resolve_plugin_entry(table->entries[i]);
  return !failed();
}

void Engine::resolve_plugin_entry(const ttst_xfer_entry& e) {
  const uint32_t mine = config_.backward ? TTST_XFER_BACKWARD : TTST_XFER_FORWARD;
  if (!e.target || (e.kind != TTST_XFER_KIND_OWNS && !e.fn) || !e.name) {
    fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the transfer plugin's table has an entry without target or function");
    return;
  }
  PluginSlot slot{};
  slot.entry = &e;
  slot.global = -1;
  if (e.kind == TTST_XFER_KIND_OWNS) {
    const char* member = nullptr;
    slot.type_count = plugin_types(src_meta(), e.target, slot.types, &member);
    bool any = annotations_.add_member_rule(src_meta(), src_newer(), e.target, kRuleSkip);
    any = annotations_.add_member_rule(dst_meta(), !src_newer(), e.target, kRuleSkip) || any;
    if (!any || !member) return (void)plugin_bad_target(e, "member", false);
    for (uint32_t k = 0; k < slot.type_count; ++k) {
      const ImageMember* m = src_meta().member(src_meta().type(slot.types[k]), member);
      slot.member_offset[k] = m ? m->offset : ~0ull;
    }
  } else if (!(e.direction & mine)) {
    return;  // the other direction's function; counted for the unvalidated list
  } else if (e.kind == TTST_XFER_KIND_GLOBAL) {
    if ((slot.global = plugin_global(src_meta(), e.target)) < 0) return (void)plugin_bad_target(e, "global", src_newer());
  } else if (e.kind == TTST_XFER_KIND_TYPE || e.kind == TTST_XFER_KIND_PLACE) {
    if (!(slot.type_count = plugin_types(src_meta(), e.target, slot.types, nullptr)))
      return (void)plugin_bad_target(e, "type", src_newer());
  } else if (e.kind == TTST_XFER_KIND_INIT) {
    if (config_.backward) return;
    if ((slot.global = plugin_global(dst_meta(), e.target)) < 0) return (void)plugin_bad_target(e, "global", true);
  } else {
    fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the transfer plugin's table has an entry of unknown kind");
    return;
  }
  plugin_slots_[plugin_slot_count_++] = slot;
}

// Backward: does the table hold a forward function for this target but no backward
// one? Then its objects are not validated.
bool Engine::plugin_forward_only(uint32_t kind, const char* target) const {
  bool forward = false, backward = false;
  for (uint32_t i = 0; i < plugin_table_->count; ++i) {
    const ttst_xfer_entry& e = plugin_table_->entries[i];
    if (e.kind != kind || !streq(e.target, target)) continue;
    forward |= (e.direction & TTST_XFER_FORWARD) != 0, backward |= (e.direction & TTST_XFER_BACKWARD) != 0;
  }
  return forward && !backward;
}

// The slot whose function writes object `o` (a global by state ID, else by the
// stripped element / global type), or -1.
int32_t Engine::plugin_slot_for(const Object& o) {
  for (uint32_t s = 0; (o.flags & kGlobal) && s < plugin_slot_count_; ++s)
    if (plugin_slots_[s].entry->kind == TTST_XFER_KIND_GLOBAL && plugin_slots_[s].global == int32_t(o.src_global))
      return int32_t(s);
  if (o.src_type == 0) return -1;
  uint32_t t = src_meta().strip(o.src_type);
  uint32_t& memo = plugin_type_memo_[t];
  if (memo) return int32_t(memo) - 2;
  int32_t found = -1;
  for (uint32_t s = 0; s < plugin_slot_count_ && found < 0; ++s)
    if (plugin_slots_[s].entry->kind == TTST_XFER_KIND_TYPE)
      for (uint32_t k = 0; k < plugin_slots_[s].type_count; ++k)
        if (plugin_slots_[s].types[k] == t) found = int32_t(s);
  memo = uint32_t(found + 2);
  return found;
}

// ---- owned objects -----------------------------------------------------------------------

// After typing: the heap objects each TTST_XFER_OWNS member points to (at their
// base) are flagged kOwned. One also typed through another pointer is refused.
bool Engine::mark_owned() {
  for (uint32_t s = 0; s < plugin_slot_count_; ++s) {
    const PluginSlot& slot = plugin_slots_[s];
    if (slot.entry->kind != TTST_XFER_KIND_OWNS) continue;
    for (uint32_t i = 0; i < object_count_ && !failed(); ++i) {
      const Object& o = objects_[i];
      if (o.src_type == 0 || (o.flags & (kFromLibrary | kContainer))) continue;
      uint32_t t = src_meta().strip(o.src_type);
      for (uint32_t k = 0; k < slot.type_count; ++k)
        if (slot.types[k] == t && slot.member_offset[k] != ~0ull) mark_owned_in(i, slot.member_offset[k], slot);
    }
  }
  return !failed();
}

void Engine::mark_owned_in(uint32_t owner, uint64_t member_offset, const PluginSlot& slot) {
  const Object& o = objects_[owner];
  uint64_t elem = type_size(src_meta(), o.src_type);
  const uint8_t* src = source_bytes(o.addr, o.size);
  if (!src || elem == 0) return;
  uint64_t count = (o.flags & kGlobal) ? 1 : o.size / elem;
  for (uint64_t k = 0; k < count && !failed(); ++k) {
    uint64_t v = load_uint(src + k * elem + member_offset, 8);
    int64_t j = v < 4096 ? -1 : object_holding(v);
    if (j < 0) continue;  // NULL, dead or not the state's: the plugin sees the value
    Object& target = objects_[j];
    if (target.flags & (kGlobal | kFromLibrary | kCarved | kContainer)) continue;
    if (target.addr == v) {  // any other pointer to it is refused (translate_into_object)
      target.flags |= kOwned;
      // Backward, an owner no backward function writes: R keeps it (unvalidated).
      if (config_.backward && plugin_slot_for(o) < 0) target.flags |= kOwnedClaimed, note_unvalidated(slot.entry->target);
      continue;
    }
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, target);
    message_.text(" is pointed into by ")
        .text(slot.entry->target)
        .text(" (TTST_XFER_OWNS), not at its start: only whole objects can be owned");
  }
}

// ---- writing -----------------------------------------------------------------------------

// Zeroes every byte a value of this process's type `t` holds in members (padding
// between them untouched: the automatic transfer leaves it as well).
void Engine::zero_members(uint32_t t, uint8_t* dst, int depth) {
  t = dst_meta().strip(t);
  const ImageType& ty = dst_meta().type(t);
  if (ty.kind == kStruct && depth < int(kMaxNesting)) {
    const ImageMember* members = dst_meta().members(ty);
    for (uint32_t i = 0; i < ty.n; ++i) {
      const ImageMember& m = members[i];
      if (m.bit_size) {
        uint64_t first = m.bit_offset / 8, last = (m.bit_offset + m.bit_size + 7) / 8;
        zero(dst + m.offset + first, last - first);
      } else {
        zero_members(m.type, dst + m.offset, depth + 1);
      }
    }
    return;
  }
  uint64_t size = type_size(dst_meta(), t);
  if (ty.kind == kArray && ty.count != dwarfmeta::image::kFlexibleCount) {
    uint64_t esize = type_size(dst_meta(), ty.target);
    for (uint64_t k = 0; esize && k < ty.count && depth < int(kMaxNesting); ++k)
      zero_members(ty.target, dst + k * esize, depth + 1);
    return;
  }
  zero(dst, size);
}

// Writes object `o` with the plugin when a function of this direction covers it
// (true: handled, or failed). Backward, an object covered only by a forward
// function is not written (true) and counted unvalidated.
bool Engine::plugin_write(Object& o, uint8_t* dst) {
  int32_t s = plugin_slot_for(o);
  if (s < 0) {
    if (!config_.backward || !plugin_table_) return false;
    const char* target = (o.flags & kGlobal) ? src_meta().str(src_meta().global_at(o.src_global).id) : nullptr;
    if (target && plugin_forward_only(TTST_XFER_KIND_GLOBAL, target)) return note_unvalidated(target), true;
    const char* type = o.src_type ? plugin_type_spelling(o.src_type) : nullptr;
    if (type && plugin_forward_only(TTST_XFER_KIND_TYPE, type)) return note_unvalidated(type), true;
    return false;
  }
  const PluginSlot& slot = plugin_slots_[s];
  const uint8_t* src = source_bytes(o.addr, o.size);
  if (!src) return false;  // the walk reports it
  uint64_t src_elem = (o.flags & kGlobal) ? o.size : type_size(src_meta(), o.src_type);
  uint64_t dst_elem = (o.flags & kGlobal) ? o.dst_size : type_size(dst_meta(), o.dst_type);
  uint64_t count = src_elem ? o.size / src_elem : 0;
  if ((o.flags & kCarved) && count) count = 1;  // one sub-object; its extent's tail is its data
  if (o.used_plus1 && o.used_plus1 - 1 < count) count = o.used_plus1 - 1;
  for (uint64_t k = 0; k < count && !failed(); ++k) {
    ttst_xfer x{this,
                slot.entry,
                current_,
                o.src_type,
                o.dst_type,
                src + k * src_elem,
                dst + k * dst_elem,
                k,
                reinterpret_cast<const uint8_t*>(o.dst_addr + k * dst_elem),
                (o.flags & kCarved) ? o.size : src_elem,
                (o.flags & kCarved) ? o.dst_size : dst_elem,
                o.addr + k * src_elem,
                0};
    if (config_.backward) zero_members(o.dst_type, x.dst, 0);
    call_plugin(x);
  }
  result_.objects++;
  return true;
}

// The name a TYPE target would use for this source type ("struct entry").
const char* Engine::plugin_type_spelling(uint32_t t) {
  for (uint32_t i = 0; i < plugin_table_->count; ++i) {
    const ttst_xfer_entry& e = plugin_table_->entries[i];
    if (e.kind != TTST_XFER_KIND_TYPE || !e.target) continue;
    uint32_t types[kPluginTypes];
    uint32_t n = plugin_types(src_meta(), e.target, types, nullptr);
    for (uint32_t k = 0; k < n; ++k)
      if (types[k] == src_meta().strip(t)) return e.target;
  }
  return nullptr;
}

void Engine::note_unvalidated(const char* target) {
  for (uint32_t i = 0; i < unvalidated_count_; ++i)
    if (streq(unvalidated_[i].target, target)) return (void)unvalidated_[i].objects++;
  if (unvalidated_count_ < kMaxUnvalidated) unvalidated_[unvalidated_count_++] = {target, 1};
}

// One call of a plugin function; its name is left in the output while it runs (a
// crash or hang there is then named by the supervisor); a failure is named.
void Engine::call_plugin(ttst_xfer& x) {
  announce_plugin_call(x.entry->name, x.object == kNoPluginObject ? nullptr : &objects_[x.object]);
  uint32_t saved_current = current_, saved_depth = path_depth_;
  Mode saved_mode = mode_;
  int status = x.entry->fn(&x, x.src, x.dst);
  current_ = saved_current, path_depth_ = saved_depth, mode_ = saved_mode;
  result_.plugin_calls++;
  if (failed() && result_.status == TTST_STFW_STATUS_INVARIANT) advise_plugin_function(x.entry->name);
  if (failed()) return;
  config_.out[0] = 0;
  if (status == 0) return;
  fail(TTST_STFW_STATUS_INVARIANT, "invariant: the transfer plugin's ").text(x.entry->name).text(" returned ");
  message_.signed_number(status).text(" for ");
  if (x.object == kNoPluginObject)
    message_.text(x.entry->target);
  else
    describe(message_, objects_[x.object]);
  advise_plugin_function(x.entry->name);
}

void Engine::announce_plugin_call(const char* name, const Object* o) {
  Message m{config_.out, config_.out_size};
  m.text(TTST_STFW_PLUGIN_RUNNING).text(name);
  if (o) describe(m.text(" on "), *o);
  m.end();
}

// After the write: forward, the init callbacks; backward, the R counterparts of
// owned objects no function claimed, zeroed (unless their owner type has no
// backward function: then unvalidated).
void Engine::plugin_finish() {
  for (uint32_t s = 0; s < plugin_slot_count_ && !failed(); ++s) {
    const PluginSlot& slot = plugin_slots_[s];
    if (slot.entry->kind != TTST_XFER_KIND_INIT) continue;
    const ImageGlobal& g = dst_meta().global_at(uint32_t(slot.global));
    uint8_t* dst = reinterpret_cast<uint8_t*>(g.addr + (g.tls ? config_.dst_tls : config_.dst_bias));
    ttst_xfer x{this, slot.entry, kNoPluginObject, 0, g.type, nullptr, dst, 0, nullptr, 0, g.size, 0, 0};
    call_plugin(x);
  }
  if (!config_.backward) return;
  for (uint32_t i = 0; i < object_count_ && !failed(); ++i) {
    Object& o = objects_[i];
    if (!(o.flags & kOwned) || (o.flags & kOwnedClaimed) || o.dst_addr == 0) continue;
    zero(reinterpret_cast<uint8_t*>(o.dst_addr), o.dst_size);
  }
}

// Result lines: one "unvalidated TARGET N" per target (stfw_task.h).
void Engine::plugin_result() {
  if (!unvalidated_count_) return;
  uint64_t cap = 128 * unvalidated_count_;
  char* buf = alloc<char>(cap);
  if (!buf) return;
  Message m{buf, cap};
  for (uint32_t i = 0; i < unvalidated_count_; ++i) {
    m.text(TTST_STFW_UNVALIDATED_PREFIX).text(unvalidated_[i].target).text(" ").number(unvalidated_[i].objects);
    m.end();
  }
  result_.plugin_lines = buf, result_.plugin_lines_size = m.used;
}

// ---- the C API (ttst_xfer_api) -----------------------------------------------------------

uint64_t Engine::api_ptr(ttst_xfer* x, uint64_t v) {
  Engine* e = x->engine;
  if (e->failed()) return 0;
  uint64_t out = 0;
  if (x->object != kNoPluginObject) e->current_ = x->object;
  return e->translate(v, &out) ? out : 0;
}

int Engine::api_whole(ttst_xfer* x) {
  Engine* e = x->engine;
  if (e->failed() || !x->src) return -1;
  e->mode_ = kWrite, e->path_depth_ = 0;
  if (x->object != kNoPluginObject) e->current_ = x->object;
  e->walk(x->src_type, x->dst_type, x->src, x->dst);
  return e->failed() ? -1 : 0;
}

int Engine::api_member(ttst_xfer* x, const char* src_name, const char* dst_name) {
  Engine* e = x->engine;
  if (e->failed() || !x->src || !src_name || !dst_name) return -1;
  uint32_t st = e->src_meta().strip(x->src_type), dt = e->dst_meta().strip(x->dst_type);
  const ImageType& sty = e->src_meta().type(st);
  const ImageType& dty = e->dst_meta().type(dt);
  const ImageMember* sm = sty.kind == kStruct || sty.kind == kUnion ? e->src_meta().member(sty, src_name) : nullptr;
  const ImageMember* dm = dty.kind == kStruct || dty.kind == kUnion ? e->dst_meta().member(dty, dst_name) : nullptr;
  if (!sm || !dm) {
    e->fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the transfer plugin's ")
        .text(x->entry->name)
        .text(" asked for member `")
        .text(sm ? dst_name : src_name)
        .text("`, which ")
        .text(!sm ? (e->src_newer() ? "v2's " : "v1's ") : (e->src_newer() ? "v1's " : "v2's "))
        .text(e->type_name(!sm ? e->src_meta() : e->dst_meta(), !sm ? st : dt))
        .text(" does not have");
    return -1;
  }
  e->mode_ = kWrite, e->path_depth_ = 0;
  if (x->object != kNoPluginObject) e->current_ = x->object;
  e->path_[0].name = e->dst_meta().str(dm->name), e->path_[0].index = 0, e->path_depth_ = 1;
  uint32_t si = uint32_t(sm - e->src_meta().members(sty)), di = uint32_t(dm - e->dst_meta().members(dty));
  Rule rule = e->member_rule(st, si, dt, di);
  if (rule != kRuleDefault)
    e->transfer_annotated(rule, x->src + sm->offset, e->type_size(e->src_meta(), sm->type), x->dst + dm->offset,
                          e->type_size(e->dst_meta(), dm->type));
  else if (sm->bit_size || dm->bit_size)
    e->bitfield(*sm, *dm, x->src, x->dst);
  else
    e->walk(sm->type, dm->type, x->src + sm->offset, x->dst + dm->offset);
  return e->failed() ? -1 : 0;
}

const void* Engine::api_source(ttst_xfer* x, uint64_t addr, uint64_t len) {
  return x->engine->source_bytes(addr, len);
}

void* Engine::api_scratch(ttst_xfer* x, uint64_t size) { return x->engine->env_->scratch(x->engine->env_->ctx, size); }

// The owned source object at `v` (its base), or nullptr with the failure set.
Object* Engine::owned_object(ttst_xfer* x, uint64_t v) {
  int64_t j = v < 4096 ? -1 : object_holding(v);
  if (j >= 0 && (objects_[j].flags & kOwned) && objects_[j].addr == v) return &objects_[j];
  fail(TTST_STFW_STATUS_INVARIANT, "invariant: the transfer plugin's ")
      .text(x->entry->name)
      .text(" asked for the owned object at ")
      .hex(v)
      .text(", which is no object an owned member (TTST_XFER_OWNS) points to");
  return nullptr;
}

void* Engine::api_new_owned(ttst_xfer* x, uint64_t v, uint64_t size) {
  Engine* e = x->engine;
  if (e->failed()) return nullptr;
  if (e->config_.backward || !e->env_->alloc) {
    e->fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the transfer plugin's ")
        .text(x->entry->name)
        .text(" called ttst_xfer_new_owned in the backward transfer (use ttst_xfer_owned there)");
    return nullptr;
  }
  Object* o = e->owned_object(x, v);
  if (!o) return nullptr;
  if (o->dst_addr) return reinterpret_cast<void*>(o->dst_addr);  // asked twice: the same object
  o->dst_addr = e->env_->alloc(e->env_->ctx, size ? size : 1, e->dst_site(e->site_of(*o)), e->dyn_id_of(*o));
  o->dst_size = size;
  o->flags |= kOwnedClaimed;
  if (!o->dst_addr)
    e->fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the program's allocator refused the ")
        .number(size)
        .text(" bytes the transfer plugin's ")
        .text(x->entry->name)
        .text(" asked ttst_xfer_new_owned for");
  return reinterpret_cast<void*>(o->dst_addr);
}

void* Engine::api_owned(ttst_xfer* x, uint64_t v, uint64_t* size) {
  Engine* e = x->engine;
  if (e->failed()) return nullptr;
  Object* o = e->owned_object(x, v);
  if (!o) return nullptr;
  if (!e->config_.backward) return size ? (*size = o->dst_size) : 0, reinterpret_cast<void*>(o->dst_addr);
  if (o->dst_addr == 0) {
    e->fail(TTST_STFW_STATUS_INVARIANT, "invariant: the transfer plugin's ").text(x->entry->name).text(" asked for ");
    e->describe(e->message_, *o);
    e->message_.text(", owned, which has no counterpart in the reversed version (created by the forward transfer "
                     "without ttst_xfer_new_owned?)");
    return nullptr;
  }
  if (!(o->flags & kOwnedClaimed)) zero(reinterpret_cast<uint8_t*>(o->dst_addr), o->dst_size);
  o->flags |= kOwnedClaimed;
  if (size) *size = o->dst_size;
  return reinterpret_cast<void*>(o->dst_addr);
}

int Engine::api_fail(ttst_xfer* x, const char* why) {
  Engine* e = x->engine;
  if (e->failed()) return -1;  // the first failure (e.g. an API call's) is the one reported
  e->fail(TTST_STFW_STATUS_INVARIANT, "invariant: the transfer plugin's ").text(x->entry->name).text(": ");
  e->message_.text(why ? why : "failed");
  if (x->object != kNoPluginObject) e->describe(e->message_.text(" ("), e->objects_[x->object]), e->message_.text(")");
  return -1;
}

uint64_t Engine::api_element(ttst_xfer* x) { return x->element; }

uint64_t Engine::api_room(ttst_xfer* x, uint64_t* source_bytes) {
  if (source_bytes) *source_bytes = x->src_room;
  return x->dst_room;
}

uint64_t Engine::api_source_address(ttst_xfer* x) { return x->src_addr; }

int Engine::api_keep(ttst_xfer* x, const char* name) {
  Engine* e = x->engine;
  if (e->failed() || !name) return -1;
  if (!e->config_.backward || !x->before) return 0;
  const ImageType& dty = e->dst_meta().type(e->dst_meta().strip(x->dst_type));
  const ImageMember* dm = dty.kind == kStruct || dty.kind == kUnion ? e->dst_meta().member(dty, name) : nullptr;
  if (!dm) {
    e->fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the transfer plugin's ")
        .text(x->entry->name)
        .text(" asked to keep member `")
        .text(name)
        .text("`, which v1's ")
        .text(e->type_name(e->dst_meta(), e->dst_meta().strip(x->dst_type)))
        .text(" does not have");
    return -1;
  }
  uint64_t size = e->type_size(e->dst_meta(), dm->type);
  if (dm->bit_size) size = (dm->bit_offset + dm->bit_size + 7) / 8;
  copy(x->dst + dm->offset, x->before + dm->offset, size);
  return 0;
}

}  // namespace ttst::stfw::engine_detail
