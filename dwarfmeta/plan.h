// plan.h — the v1 -> v2 update plan (the paper's Table 2).
//
// Every state object (global by state ID; allocation site by site ID; heap types,
// the structs the state reaches through pointers, by tag: plan_heap_types.h) of v1
// and v2 is matched by ID (RENAMED_FROM annotations rename) and classified:
//   unchanged   same type, up to typedef names and layout-neutral spelling
//   structural  the framework transforms it: members added/dropped/moved,
//               primitives widened/narrowed/sign-changed, arrays grown/truncated,
//               pointer target type changed, enumerators added/renumbered
//   semantic    needs user transfer code: a struct became an integer, pointer <->
//               integer, integer <-> float, a union holding pointers changed,
//               enumerators dropped, thread-local <-> global, a suspected rename,
//               an array of pointers resized (hash buckets)
//   dropped / added
// Member-level changes are listed per object, found at any depth (pointers are
// compared by what they point to, never followed); pointer ambiguity (void *, unions
// with pointers, intptr_t/uintptr_t) reachable from an object is flagged unless an
// IXFER/PXFER annotation resolves it.
#ifndef DWARFMETA_PLAN_H
#define DWARFMETA_PLAN_H

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

enum class ObjectKind { Unchanged, Structural, Semantic, Dropped, Added };
const char* object_kind_name(ObjectKind k);

struct Change {
  std::string path;    // member path inside the object: "str", "u.i", "grid[]"; "" = the object itself
  std::string what;    // added dropped moved widened narrowed sign-changed converted grown
                       // truncated retargeted renumbered enumerator-added enumerator-dropped
                       // type-changed union-changed signature-changed bitfield-moved renamed tls-changed
                       // suspected-rename (a member dropped while one of its type is added: semantic
                       // unless RENAMED_FROM or DROPPED says which) pointer-array-resized (an array
                       // of pointers grown or truncated: semantic, a hash table's buckets may be)
  std::string from, to;
  bool semantic = false;
  std::string text() const;  // "id: widened short int -> int"
};

struct Ambiguity {
  std::string path;    // "ptr", "next->data"
  std::string why;     // "void *", "union with pointer members", "pointer-sized integer intptr_t"
};

struct PlanObject {
  std::string id;            // state ID (v2's when renamed)
  std::string what;          // "global", "alloc_site", "carved" or "type" (a heap type: plan_heap_types.h)
  std::string old_id;        // v1's ID when renamed, else ""
  ObjectKind kind = ObjectKind::Unchanged;
  std::string type_v1, type_v2;  // C spelling
  std::vector<Change> changes;
  std::vector<Ambiguity> ambiguities;
  // Semantic objects: the lines that resolve them, worded as the transfer's refusal
  // would word them (plan_fixes.h): "add TTST_NO_TRANSFER(table); ...", the plugin's functions.
  std::vector<std::string> fixes;
};

struct Plan {
  std::vector<PlanObject> objects;
  bool needs_user_code() const;  // some object is semantic
  const PlanObject* object(const std::string& id) const;
};

Plan make_plan(const Program& v1, const Program& v2);

// {"objects": [{"id", "kind", "changes": [...], ...}], "needs_user_code": bool}
nlohmann::json to_json(const Plan& plan);
// The table an administrator reads before an update.
void print_plan(const Plan& plan, std::ostream& out, bool verbose = false);

}  // namespace ttst::dwarfmeta

#endif
