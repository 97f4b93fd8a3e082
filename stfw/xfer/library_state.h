// library_state.h — what the transfer engine needs to know about a library whose
// state the program holds (UNTRUSTED, freestanding): a *library adapter*.
//
// A program embeds some of a library's types in its own objects (memcached keeps a
// libevent `struct event` in every connection) and points to objects the library
// allocated (`struct event_base *main_base`). Those library objects are never
// transferred: F runs its own instance of the library, made by v2's start-up.
// What the program registered with P's instance is replayed into F's instead:
//  - members of an embedded type are either the program's (a callback, its
//    argument, a descriptor: transferred and translated like any member) or the
//    library's internals (list links, the owning base, heap indices: never
//    translated, never typing roots; F keeps its own, R keeps P's) — `rules`;
//  - pointers to a `handles` type are the library's: F keeps v2's value (R keeps
//    P's), and the pair (P's value, F's value) tells the adapter which of F's
//    library objects stands for which of P's;
//  - at run time (agent side, in F) the adapter withdraws F's own registrations
//    from memory the transfer overwrites or frees, and re-registers every embedded
//    value that was registered in P through F's copy of the library's API
//    (libevent_adapter.h).
// Adding a library = one LibraryAdapter (data) + its run-time part; see
// stfw/README.md "Library state".
#ifndef TTST_STFW_XFER_LIBRARY_STATE_H
#define TTST_STFW_XFER_LIBRARY_STATE_H

#include <stdint.h>

namespace ttst::stfw {

// How one member of an embedded library type is carried over, per direction
// (values of annotations.h's Rule: 0 default walk, 2 translated as a pointer
// (a union of callbacks), 3 the destination keeps its own).
struct LibraryMemberRule {
  const char* target;  // "struct event.ev_base" (annotation syntax, ".a.b" nesting)
  uint8_t forward, backward;
};

struct LibraryAdapter {
  const char* library;        // for messages: "libevent"
  const char* embedded_type;  // struct tag the program embeds: "event" (NULL: none)
  const LibraryMemberRule* rules;
  uint32_t rule_count;
  const char* const* handles;  // struct tags of the library's own objects: "event_base"
  uint32_t handle_count;
  // A live embedded value (typing its container, below): its `owner` member points
  // into an object the library allocated and its `flags` member (2 bytes) has every
  // bit of `live_mask`. libevent: ev_base, ev_evcallback.evcb_flags, EVLIST_INIT.
  const char* owner_member;
  const char* flags_member;
  uint64_t live_mask;
};
// Containers: a heap object left untyped (reached only through `void *`, such as
// the callback argument libevent keeps, from a site that types nothing) is typed
// as struct T when T is the one struct type of exactly its size with a member of an
// embedded type at offset k such that the object holds a live embedded value at k
// (memcached-style connections known only to libevent). Two such types: left
// untyped (then refused by the untyped policy, named).

// libevent 2.x (libevent_adapter.h has its run-time part).
extern const LibraryAdapter kLibeventAdapter;

// glibc's stdio streams (handles only).
extern const LibraryAdapter kStdioAdapter;
constexpr uint32_t kLibeventAdapterIndex = 0;  // in library_adapters()

// The adapters every transfer applies (a program that embeds none of their types
// is unaffected).
const LibraryAdapter* const* library_adapters(uint32_t* count);

}  // namespace ttst::stfw

#endif
