// dwarf_handle_test — the libdwarf owners release each handle exactly once: on
// destruction, on reset, after moves; and they walk a real program's DIEs with
// libdwarf's own tracking off (as dwarfmeta runs it) without a leak under ASan.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "dwarfmeta/dwarf_handle.h"

using namespace ttst::dwarfmeta;

namespace {

std::vector<int*> released;
void release(int* p) { released.push_back(p); }
using Owner = DwarfOwner<int*, release>;

}  // namespace

TEST_CASE("an owner releases its handle once, whatever happens to it") {
  int a = 0, b = 0, c = 0;
  released.clear();
  {
    Owner o(&a);
    CHECK(o.get() == &a);
    CHECK(static_cast<bool>(o));
    o.reset(&b);  // releases a, holds b
    CHECK(released == std::vector<int*>{&a});
    Owner moved(std::move(o));  // b moves; o holds nothing
    CHECK(!o);
    CHECK(moved.get() == &b);
    Owner other(&c);
    other = std::move(moved);  // releases c, takes b
    CHECK(released == std::vector<int*>{&a, &c});
    CHECK(!moved);
    Owner empty;
    CHECK(!empty);
  }
  CHECK(released == std::vector<int*>{&a, &c, &b});  // b once, at the end; nothing for the empty ones
}

TEST_CASE("walking a real program's DIEs with the owners") {
  int fd = open("dwarfmeta/tests/programs/types_gcc_O0", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  dwarf_set_de_alloc_flag(0);  // as dwarfmeta runs libdwarf: every handle must be freed by its owner
  Dwarf_Debug dbg = nullptr;
  Dwarf_Error err = nullptr;
  REQUIRE(dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, nullptr, nullptr, &dbg, &err) == DW_DLV_OK);
  size_t dies = 0, names = 0;
  {
    DwarfSession session(dbg);
    Dwarf_Unsigned hdr_len = 0, next_off = 0, typeoff = 0;
    Dwarf_Half version = 0, addr_size = 0, len_size = 0, ext_size = 0, cu_type = 0;
    Dwarf_Off abbrev = 0;
    Dwarf_Sig8 sig{};
    while (dwarf_next_cu_header_d(dbg, true, &hdr_len, &version, &abbrev, &addr_size, &len_size, &ext_size, &sig,
                                  &typeoff, &next_off, &cu_type, &err) == DW_DLV_OK) {
      Dwarf_Die cu_die = nullptr;
      REQUIRE(dwarf_siblingof_b(dbg, nullptr, true, &cu_die, &err) == DW_DLV_OK);
      DwarfDie cu(cu_die);
      Dwarf_Die first = nullptr;
      if (dwarf_child(cu.get(), &first, &err) != DW_DLV_OK) continue;
      for (DwarfDie die(first); die;) {
        ++dies;
        Dwarf_Attribute at = nullptr;
        if (dwarf_attr(die.get(), DW_AT_name, &at, &err) == DW_DLV_OK) {
          DwarfAttribute name(at);
          ++names;
        }
        Dwarf_Attribute* list = nullptr;
        Dwarf_Signed n = 0;
        if (dwarf_attrlist(die.get(), &list, &n, &err) == DW_DLV_OK) {
          DwarfAttributeList attrs(dbg, list, n);
          CHECK(attrs.size() == n);
        }
        Dwarf_Die next = nullptr;
        die = DwarfDie(dwarf_siblingof_b(dbg, die.get(), true, &next, &err) == DW_DLV_OK ? next : nullptr);
      }
    }
  }
  close(fd);
  CHECK(dies > 20);
  CHECK(names > 10);
}
