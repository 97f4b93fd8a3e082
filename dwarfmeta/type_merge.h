// type_merge.h — which types of a program are the same C type, so that the copy
// every compilation unit repeats becomes one type, and nothing else does.
//
// Equal candidate keys (type_key.h) only nominate; the decision is a structural
// comparison that follows every reference (member, target, parameter) through
// cycles (struct list { struct list *next; }) and to any depth: two types are the
// same when no path of references from both leads to a difference.
//
// A declaration (`struct conn;`) is the same type as the definition of its tag when
// all of the program's definitions of that tag are one type. Whether they are can
// depend on declarations of other tags (struct a's copies differ only in pointing
// to `struct b;` or to struct b's definition, and struct b's copies to struct a),
// so every tag starts resolved, the types are merged, and the tags whose
// definitions did not all become one type are unresolved and everything merged
// again, until each resolved tag has proven to have one definition.
#ifndef DWARFMETA_TYPE_MERGE_H
#define DWARFMETA_TYPE_MERGE_H

#include <functional>
#include <vector>

#include "dwarfmeta/model.h"
#include "dwarfmeta/type_key.h"

namespace ttst::dwarfmeta {

// The candidate key of type `id`.
using KeyFunction = std::function<TypeKey(TypeId id)>;

// canon[id] for every type: the first (lowest) id of the types that are the same
// type as `id`; a definition for a resolved declaration; 0 for void-kind types.
std::vector<TypeId> merge_types(const std::vector<Type>& types, const KeyFunction& key);

}  // namespace ttst::dwarfmeta

#endif
