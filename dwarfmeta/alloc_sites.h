// alloc_sites.h — find every call to an allocator in the program's code (Capstone).
//
// Direct calls through the PLT (.plt, .plt.sec, .plt.got), indirect calls through
// the GOT (-fno-plt), and direct calls to functions in the binary itself
// (annotated allocators, statically linked or --wrap'ed malloc) all count. Each
// site gets a stable ID "caller#ordinal" and its return address, which is what the
// runtime stores in ttst_heap_desc::site (minus the load bias).
#ifndef DWARFMETA_ALLOC_SITES_H
#define DWARFMETA_ALLOC_SITES_H

#include <set>
#include <string>
#include <vector>

#include "dwarfmeta/elf_file.h"
#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

// malloc, calloc, realloc, strdup, strndup, posix_memalign, aligned_alloc.
const std::set<std::string>& standard_allocators();

// `functions` sorted by low; `allocators` are the names to look for.
std::vector<AllocSite> find_alloc_sites(const ElfFile& elf, const std::vector<Function>& functions,
                                        const std::set<std::string>& allocators);

// Fills AllocSite::type where the code right after the call stores the returned
// pointer (rax) into a global through a rip-relative address, or (-O0) into a
// local's frame slot; `received` gets those sites' return addresses, typed or not.
void hint_alloc_types(const ElfFile& elf, Program& prog, std::set<uint64_t>* received = nullptr);

// Does the function whose code starts at code[0] set up rbp as its frame pointer
// (an optional endbr64, push rbp, mov rbp, rsp)? Then rbp is its CFA - 16 in its body.
bool sets_frame_pointer(const uint8_t* code, uint64_t size);

// The target type of the pointer at byte `off` of an object of `type` (members and
// array elements followed down), or void when no pointer starts there. With
// `strict_unions`, an offset two union members cover is no answer.
TypeId pointee_in(const Program& p, TypeId type, uint64_t off, bool strict_unions);

}  // namespace ttst::dwarfmeta

#endif
