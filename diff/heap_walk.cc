// heap_walk.cc — walks the runtime's descriptor lists (see heap_walk.h).
#include "diff/heap_walk.h"

#include <cstddef>

#include "stfw/runtime/ttst_abi.h"

namespace diff {

bool read_heap_objects(Memory& p, uint64_t runtime_addr, std::vector<HeapObject>& out,
                       std::string& error) {
  ttst_runtime rt;
  if (!p.read(runtime_addr, &rt, sizeof rt)) return error = "cannot read the ttst runtime block", false;
  if (rt.magic != TTST_RUNTIME_MAGIC || rt.abi_version != TTST_ABI_VERSION ||
      rt.desc_size != sizeof(ttst_heap_desc))
    return error = "the ttst runtime block has a foreign magic, ABI version or descriptor size", false;
  const uint64_t limit = rt.live_objects;  // every list together holds exactly this many
  uint64_t seen = 0;
  for (unsigned s = 0; s < TTST_HEAP_STRIPES; s++) {
    const uint64_t head = runtime_addr + offsetof(ttst_runtime, heads) + s * sizeof(ttst_heap_desc);
    uint64_t prev = head;
    if (!rt.heads[s].next) continue;  // a stripe never used yet
    for (uint64_t at = reinterpret_cast<uint64_t>(rt.heads[s].next); at != head;) {
      ttst_heap_desc d;
      if (++seen > limit) return error = "heap lists hold more objects than live_objects says", false;
      if (!p.read(at, &d, sizeof d)) return error = "heap list points to unreadable memory", false;
      if (d.magic != TTST_HEAP_LIVE || reinterpret_cast<uint64_t>(d.prev) != prev)
        return error = "heap list holds a damaged descriptor", false;
      out.push_back({at + sizeof d, d.size, d.site, d.dyn_id});
      prev = at;
      at = reinterpret_cast<uint64_t>(d.next);
    }
  }
  if (seen != limit) return error = "heap lists hold fewer objects than live_objects says", false;
  return true;
}

}  // namespace diff
