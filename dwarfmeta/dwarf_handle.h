// dwarf_handle.h — owners of libdwarf handles (Debian's 20210528 API), so a handle
// is released exactly once on every path, also when an exception unwinds.
//
// dwarfmeta's DWARF walk turns libdwarf's own allocation tracking off process-wide
// (dwarf_set_de_alloc_flag(0), for speed), after which dwarf_finish no longer frees
// what a walk left behind: every DIE and attribute must be released by its owner.
// Used by the extractor (dwarf_reader.cc) and by the trusted quiescence code
// (supervisor/quiesce/upoint_map.cc); its own target, with only libdwarf as a
// dependency, so the trusted code does not pull in the extractor.
#ifndef DWARFMETA_DWARF_HANDLE_H
#define DWARFMETA_DWARF_HANDLE_H

#include <libdwarf/dwarf.h>
#include <libdwarf/libdwarf.h>

#include <utility>

namespace ttst::dwarfmeta {

// A move-only owner of one libdwarf pointer handle, released by `Release`.
template <typename Handle, void (*Release)(Handle)>
class DwarfOwner {
 public:
  explicit DwarfOwner(Handle h = nullptr) : h_(h) {}
  ~DwarfOwner() { reset(); }
  DwarfOwner(DwarfOwner&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  DwarfOwner& operator=(DwarfOwner&& o) noexcept {
    if (this != &o) reset(std::exchange(o.h_, nullptr));
    return *this;
  }
  DwarfOwner(const DwarfOwner&) = delete;
  DwarfOwner& operator=(const DwarfOwner&) = delete;

  Handle get() const { return h_; }
  explicit operator bool() const { return h_ != nullptr; }
  // Releases the handle held and takes `h`.
  void reset(Handle h = nullptr) {
    if (h_) Release(h_);
    h_ = h;
  }

 private:
  Handle h_;
};

namespace dwarf_handle_detail {
inline void finish(Dwarf_Debug d) { dwarf_finish(d, nullptr); }
}  // namespace dwarf_handle_detail

// One DIE (dwarf_child, dwarf_siblingof_b, dwarf_offdie_b).
using DwarfDie = DwarfOwner<Dwarf_Die, dwarf_dealloc_die>;
// One attribute (dwarf_attr).
using DwarfAttribute = DwarfOwner<Dwarf_Attribute, dwarf_dealloc_attribute>;
// A libdwarf session (dwarf_init_b): dwarf_finish.
using DwarfSession = DwarfOwner<Dwarf_Debug, dwarf_handle_detail::finish>;

// The attribute list of a DIE (dwarf_attrlist): each attribute and the list.
class DwarfAttributeList {
 public:
  DwarfAttributeList(Dwarf_Debug dbg, Dwarf_Attribute* list, Dwarf_Signed count)
      : dbg_(dbg), list_(list), count_(list ? count : 0) {}
  ~DwarfAttributeList() {
    for (Dwarf_Signed i = 0; i < count_; ++i) dwarf_dealloc_attribute(list_[i]);
    if (list_) dwarf_dealloc(dbg_, list_, DW_DLA_LIST);
  }
  DwarfAttributeList(const DwarfAttributeList&) = delete;
  DwarfAttributeList& operator=(const DwarfAttributeList&) = delete;

  Dwarf_Signed size() const { return count_; }
  Dwarf_Attribute operator[](Dwarf_Signed i) const { return list_[i]; }

 private:
  Dwarf_Debug dbg_;
  Dwarf_Attribute* list_;
  Dwarf_Signed count_;
};

}  // namespace ttst::dwarfmeta

#endif
