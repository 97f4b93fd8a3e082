// annotations.h — the user's transfer annotations (ttst.h: TTST_IXFER, TTST_PXFER,
// TTST_NO_TRANSFER, TTST_RENAMED_FROM, TTST_KEEP_NEW, ...) resolved against both versions' metadata
// images, so the engine can ask, for a global or a struct member it is about to
// transfer, "how does the user want this carried over?" (UNTRUSTED, freestanding).
//
// Which annotations count:
//   IXFER, PXFER, NO_TRANSFER — those of either version (an annotation written in
//     v1's source still describes v1's data; one added in v2 describes both);
//   DROPPED — the newer version's only; its target names the older version's member;
//   TAGGED — either version's, each resolved in both images (tagged_unions.h);
//   RENAMED_FROM — those of the newer version only (its argument names the object
//     as the older version called it; the older version's own renames refer to a
//     version that no longer runs).
// Targets follow ttst_abi.h §1: a global ("name", file-static preferred, or
// "func::name"), or a member of a struct/union type ("struct tag.m", "union tag.m",
// "typedef-name.m", ".a.b" for nesting). A target that names nothing is reported
// as bad input: a silently ignored annotation would transfer what the user said
// must not be.
#ifndef TTST_STFW_XFER_ANNOTATIONS_H
#define TTST_STFW_XFER_ANNOTATIONS_H

#include <stdint.h>

#include "dwarfmeta/image.h"
#include "stfw/xfer/address_hash.h"
#include "stfw/xfer/embedded_structs.h"
#include "stfw/xfer/tagged_unions.h"

namespace ttst::stfw {

// How one global or member is transferred.
enum Rule : uint8_t {
  kRuleDefault = 0,
  kRuleBytes = 1,    // IXFER: copied as bytes, pointers inside never translated
  kRulePointer = 2,  // PXFER: the first 8 bytes translated as a pointer
  kRuleSkip = 3,     // NO_TRANSFER: the destination keeps its own value
};

class Annotations {
 public:
  // `older`/`newer`: the images of v1 and v2 (forward: source, destination;
  // backward: destination, source). `scratch` provides memory. Returns false with
  // `bad` pointing at the first target that names nothing (or NULL when out of
  // memory).
  bool init(const dwarfmeta::image::View& older, const dwarfmeta::image::View& newer,
            void* (*scratch)(void*, uint64_t), void* ctx, const dwarfmeta::image::ImageAnnotation** bad,
            bool* bad_in_newer);

  // A member rule that comes from a library adapter (library_state.h), not from
  // the program: `target` in annotation syntax ("struct event.ev_base"). False if
  // it names nothing in `v` (the program does not embed the type) or out of memory.
  bool add_member_rule(const dwarfmeta::image::View& v, bool newer, const char* target, Rule rule);

  // The rule for a global known by this state ID in either version.
  Rule global_rule(const char* id) const;
  // The rule for member `index` of (stripped) struct/union type `type` of the older
  // (`newer` false) or newer version's image.
  Rule member_rule(bool newer, uint32_t type, uint32_t index) const;
  // CONTAINER (ttst_abi.h §1): does any annotation declare containers; is this
  // member (of the older or newer image's stripped type) a holder of containers,
  // which sibling member holds the chunk size and which the number of used
  // elements of the array it points to (-1: none); is this global one.
  bool has_containers() const { return container_count_ > 0; }
  bool container_member(bool newer, uint32_t type, uint32_t index, int64_t* chunk, int64_t* count) const;
  bool container_global(const char* id) const;
  // A type declared a container (TTST_CONTAINER(T, ...)): every heap block a T *
  // points to at its base is one. `type` stripped, of the older or newer image.
  bool container_type(bool newer, uint32_t type) const;
  // TTST_HEADER_WRAPPER(func, k): the bytes of a header that allocation wrapper
  // `func` (a function ID) puts before the object it returns, else 0.
  bool has_header_wrappers() const { return wrapper_count_ > 0; }
  uint64_t header_bytes(const char* function_id) const;
  // Does member `index` of `type` carry an annotation that makes the typing declare
  // something (a rule, a container holder, a pointee, a free-memory holder), as
  // against one that only pairs or counts (a rename, DROPPED, USED_N, a free
  // list's link member)?
  bool member_declares(bool newer, uint32_t type, uint32_t index) const;
  // Might any annotation name member `index` of `type` (older or newer image)? A
  // filter, never wrong when false: the member queries above then all answer
  // "nothing" (the engine asks once per member instead of a dozen times).
  bool member_named(bool newer, uint32_t type, uint32_t index) const {
    const uint32_t k = member_key_bit(newer, type, index);
    return member_keys_[k / 64] >> (k % 64) & 1;
  }
  // Does any member of this type carry a rule or a rename? (The engine's fast paths,
  // which copy whole types as bytes, must not be used for such types.)
  bool type_annotated(bool newer, uint32_t type) const;
  // POINTS_TO (ttst_abi.h §1): the type T (of the older or newer image) a pointer
  // member really points to (`void *` / `char *` holding a T *, or a `U *` whose
  // pointee is only T, U's first member: nginx's pool blocks), else 0.
  uint32_t member_pointee(bool newer, uint32_t type, uint32_t index) const;
  bool has_pointees() const { return pointee_count_ > 0; }
  // Is member `index` of `type` annotated with nothing but POINTS_TO (or a rename,
  // or DROPPED, which only pair members)? Such members keep the engine's compiled
  // element plans (engine_plans.cc): the pointee is then the declared one.
  bool member_pointee_only(bool newer, uint32_t type, uint32_t index) const;
  // Is the member annotated only as a free list's link (TTST_FREE_LIST's link member)?
  // In an element not on the list it is an ordinary pointer.
  bool member_free_link_only(bool newer, uint32_t type, uint32_t index) const;
  // USED_N: the sibling member (index) holding how many elements of the array
  // this pointer member points to are in use, else -1.
  int64_t member_used(bool newer, uint32_t type, uint32_t index) const;
  bool has_used() const { return used_count_ > 0; }
  // FREE_SLOTS (ttst_abi.h §1, kind 12): the form of member `index` of `type`
  // (kFreeNone, or a holder: kFreePointer, kFreeSlotArray with *arg its count
  // sibling, kFreeList with *arg the link member of the element type; or
  // kFreeLink: the link member of a free list's element type; kFreeRange with *arg
  // the end sibling: the bytes from the holder's target to the end's are free).
  enum FreeForm : uint8_t {
    kFreeNone = 0,
    kFreePointer = 1,
    kFreeSlotArray = 2,
    kFreeList = 3,
    kFreeLink = 4,
    kFreeRange = 5
  };
  bool has_free() const { return free_count_ > 0; }
  FreeForm member_free(bool newer, uint32_t type, uint32_t index, int64_t* arg) const;
  // FREE_SLOTS on a global (by state ID): kFreePointer, or kFreeList with *link
  // the link member's name (kFreeSlotArray needs a sibling: members only).
  FreeForm global_free(const char* id, const char** link) const;
  // A free list's element type (stripped): some member is its link.
  bool free_element_type(bool newer, uint32_t type) const;

  // KEEP_NEW (ttst_abi.h §1, kind 11): is this global (by its ID in either
  // version) kept as the destination's start-up value, with the graph it reaches
  // (keep_new.h)? Its rule is kRuleSkip as well.
  bool global_keep_new(const char* id) const;
  // KEEP_NEW with "at=path" (TTST_KEEP_NEW_AT): the i-th such annotation's global
  // ID (in the version that declared it) and member path; false past the last.
  bool keep_new_at(uint32_t i, const char** id, const char** path) const;
  bool has_keep_new() const { return keep_new_count_ > 0; }

  // RENAMED_FROM for globals: the newer version's ID of an object the older version
  // called `old_id`, or NULL; and the reverse. Also for a local of the frames at the
  // update point ("func::local", frame_roots.cc).
  const char* newer_id(const char* old_id) const;
  const char* older_id(const char* new_id) const;
  // RENAMED_FROM for members: the older name of member `index` of the newer
  // version's type `type`, or NULL.
  const char* older_member_name(uint32_t type, uint32_t index) const;
  // The newer version's member index of type `type` renamed from `old_name`, or -1.
  int64_t newer_member_renamed_from(uint32_t type, const char* old_name) const;
  // DROPPED: is member `index` of the older version's type `type` dropped on
  // purpose (so a member of its type added in the newer version is no rename)?
  bool member_dropped(uint32_t type, uint32_t index) const;
  // TAGGED (tagged_unions.h): the pointer members whose target depends on a sibling.
  const TaggedUnions& tagged() const { return tagged_; }
  // EMBEDDED (embedded_structs.h): structs inside another struct's bytes at a computed offset.
  const EmbeddedStructs& embedded() const { return embedded_; }

 private:
  struct GlobalEntry {
    Rule rule;
    const char* id;        // the state ID the annotation resolved to
    const char* old_id;    // RENAMED_FROM: the older ID (rule is kRuleDefault)
    bool container;        // CONTAINER: the blocks it points to are containers
    bool keep_new;         // KEEP_NEW: the destination's start-up graph is kept
    const char* keep_at;   // KEEP_NEW "at=path": the root is that member of *global
    uint8_t free_form;     // FREE_SLOTS on a global: kFreePointer or kFreeList (0: none)
    const char* free_link;  // kFreeList: the link member's name in the element type
  };
  struct MemberEntry {
    Rule rule;
    bool newer;
    uint32_t type, index;
    const char* old_name;  // RENAMED_FROM
    bool container;        // CONTAINER
    int64_t chunk;         // CONTAINER: the sibling member holding the chunk size, or -1
    int64_t count;         // CONTAINER: the sibling member holding the used element count, or -1
    uint32_t pointee;      // POINTS_TO: T of this image, or 0
    int64_t used;          // USED_N: the sibling member holding the used element count, or -1
    bool dropped;          // DROPPED (given in the newer version, about the older's member)
    uint8_t free_form;     // FREE_SLOTS: a FreeForm
    int64_t free_arg;      // FREE_SLOTS: the count sibling (kFreeSlotArray) or link member (kFreeList)
    uint32_t next_same;    // the next entry (+ 1) of the same version, type and member; 0: none
  };
  // The member queries above run for every member of every object the engine
  // walks; a scan of every entry per query (a library adapter's rules and a type
  // defined in many compilation units make hundreds) was a third of memcached's
  // transfers. So the entries are indexed as they are added (only read after):
  // - (version, type, member) -> its entries in the order added: a chained hash
  //   (a slot holds a chain's first entry + 1, MemberEntry::next_same the next);
  // - the (version, type) pairs any entry names, a 4096-bit filter, for the
  //   queries by type alone (most types are named by none);
  // - the (version, type, member) triples, an 8192-bit filter in front of the
  //   hash: most members asked about, even of annotated types, have no entry.
  uint32_t* member_slots_ = nullptr;
  uint64_t member_slot_capacity_ = 0, member_chains_ = 0;
  uint64_t member_types_[64] = {};
  uint64_t member_keys_[128] = {};
  static uint32_t member_key_bit(bool newer, uint32_t type, uint32_t index) {
    const uint64_t key = (uint64_t(type) << 1 | uint64_t(newer)) * 0x9e3779b97f4a7c15ull + index;
    return uint32_t(key * 0xff51afd7ed558ccdull >> 51);
  }
  bool index_member(uint32_t i);  // false: out of memory
  bool room_for_member();         // false: out of memory
  void link_member(uint32_t i);   // into the chained hash, which has room
  const MemberEntry* first_entry(bool newer, uint32_t type, uint32_t index) const;
  const MemberEntry* next_entry(const MemberEntry* m) const {
    return m->next_same ? &members_[m->next_same - 1] : nullptr;
  }
  static uint32_t member_type_bit(bool newer, uint32_t type) {
    return uint32_t(address_slot(uint64_t(type) << 1 | uint64_t(newer), 4096));
  }
  bool may_name(bool newer, uint32_t type) const {
    const uint32_t b = member_type_bit(newer, type);
    return member_types_[b / 64] >> (b % 64) & 1;
  }
  // FREE_SLOTS on member holders (annotations.cc, its end).
  bool add_free_slots(const dwarfmeta::image::View& v, bool newer, const char* target, const char* arg);
  bool add_free_entry(bool newer, uint32_t type, uint32_t index, uint8_t form, int64_t arg);
  bool add_free_global(const dwarfmeta::image::View& v, bool newer, const dwarfmeta::image::ImageGlobal& g,
                       GlobalEntry& e, const char* arg);
  uint32_t free_count_ = 0;
  bool add(const dwarfmeta::image::View& v, bool newer, const dwarfmeta::image::ImageAnnotation& a);
  bool add_local_rename(const dwarfmeta::image::View& v, const char* target, const char* old);
  bool resolve_members(const dwarfmeta::image::View& v, bool newer, const char* target, Rule rule,
                       const char* old_name, bool container = false, const char* arg = nullptr,
                       uint32_t pointee = 0, bool dropped = false);
  static uint32_t pointer_type_to(const dwarfmeta::image::View& v, const char* name);
  // T by name when the image has no pointer type to it (nginx has no ngx_pool_data_t *).
  static uint32_t type_named(const dwarfmeta::image::View& v, const char* name);

  bool add_container_type(const dwarfmeta::image::View& v, bool newer, const char* name);
  struct TypeEntry {
    bool newer;
    uint32_t type;
  };
  struct WrapperEntry {
    const char* function;
    uint64_t header;
  };
  WrapperEntry wrappers_[16] = {};
  uint32_t wrapper_count_ = 0;
  TypeEntry* types_ = nullptr;
  uint32_t type_count_ = 0, type_capacity_ = 0;
  GlobalEntry* globals_ = nullptr;
  MemberEntry* members_ = nullptr;
  uint32_t container_count_ = 0, pointee_count_ = 0, used_count_ = 0, keep_new_count_ = 0;
  uint32_t global_count_ = 0, member_count_ = 0, global_capacity_ = 0, member_capacity_ = 0;
  void* (*scratch_)(void*, uint64_t) = nullptr;
  void* ctx_ = nullptr;
  char* names_ = nullptr;  // "file.c::name" candidates built while resolving
  uint64_t names_used_ = 0, names_cap_ = 0;
  TaggedUnions tagged_;
  bool add_tagged(const dwarfmeta::image::View& own, const dwarfmeta::image::View& other, bool newer,
                  const dwarfmeta::image::ImageAnnotation& a);
  EmbeddedStructs embedded_;
};

}  // namespace ttst::stfw

#endif
