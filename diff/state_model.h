// state_model.h — the minimal description of a program's state the namer needs,
// and a StateNamer built on it. The adapter from dwarfmeta fills a StateModel:
//   types    every type reachable from globals and allocation sites, by index
//            (index 0 is reserved for "unknown"); per type its kind, name, size,
//            and: members (name, byte offset, type) for struct/union; element
//            type and count for arrays; encoding for base types; enumerators for
//            enums. Typedefs and cv-qualifiers are resolved away (name kept).
//   globals  state ID ("name", "file.c::name", "func::name"), run-time address
//            (link address + load bias), type.
//   sites    run-time allocation-site address (the descriptor's `site`) -> site
//            ID for people ("srv.c:42" or "func+0x1c") and element type (0 if
//            unknown; an object larger than its type is an array of it).
//   heap     live heap objects, from read_heap_objects() (heap_walk.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "diff/naming.h"

namespace ttst::diff {

struct MemberDesc {
  std::string name;
  uint64_t offset = 0;  // bytes from the start of the struct/union
  uint32_t type = 0;
};

struct TypeDesc {
  enum Kind : uint8_t { Unknown, Base, Pointer, Enum, Struct, Union, Array } kind = Unknown;
  enum Encoding : uint8_t { Signed, Unsigned, Float, Bool, Char } enc = Unsigned;  // Base, Enum
  std::string name;                                    // "int", "struct conn", "char [16]"
  uint64_t size = 0;
  std::vector<MemberDesc> members;                     // Struct, Union (by offset)
  uint32_t elem = 0;                                   // Array
  uint64_t count = 0;                                  // Array
  std::vector<std::pair<int64_t, std::string>> enumerators;  // Enum
};

struct GlobalDesc {
  std::string id;
  uint64_t addr = 0;
  uint32_t type = 0;
};

struct SiteDesc {
  std::string id;
  uint32_t type = 0;
};

struct HeapObject {
  uint64_t addr = 0, size = 0;  // the program's block (after the descriptor)
  uint64_t site = 0, dyn_id = 0;
};

struct StateModel {
  std::vector<TypeDesc> types{TypeDesc{}};  // [0] = unknown
  std::vector<GlobalDesc> globals;
  std::map<uint64_t, SiteDesc> sites;
  std::vector<HeapObject> heap;
};

class ModelNamer : public StateNamer {
 public:
  explicit ModelNamer(StateModel m);
  std::optional<Named> name(uint64_t addr) const override;
  std::string render(const Named& n, const uint8_t* bytes) const override;

 private:
  // Descends from `type` at byte `off` to the leaf holding it, extending `path`.
  Named descend(uint32_t type, uint64_t base, uint64_t off, std::string path) const;
  StateModel m_;
};

}  // namespace ttst::diff
