// heap_walk.cc — walks the runtime's descriptor lists (see heap_walk.h) with the
// runtime's own checked reader (stfw/abi/ttst_heap_reader.h), fed by small
// reads of P through /proc/PID/mem.
#include "diff/heap_walk.h"

#include <vector>

#include "stfw/abi/ttst_heap_reader.h"

namespace ttst::diff {
namespace {

// The reader keeps the control block it translated first while it translates
// descriptors one at a time, so the block gets a buffer of its own.
struct Reads {
  Memory* memory;
  uint64_t runtime_addr;
  std::vector<uint8_t> runtime_block;
  std::vector<uint8_t> descriptor;
};

const void* translate(void* ctx, uint64_t addr, uint64_t len) {
  auto* r = static_cast<Reads*>(ctx);
  std::vector<uint8_t>& buf = addr == r->runtime_addr ? r->runtime_block : r->descriptor;
  buf.resize(len);
  return r->memory->read(addr, buf.data(), len) ? buf.data() : nullptr;
}

int visit(void* ctx, uint64_t addr, const ttst_heap_desc* d) {
  static_cast<std::vector<HeapObject>*>(ctx)->push_back({addr, d->size, d->site, d->dyn_id});
  return 0;
}

const char* describe(int64_t rc) {
  switch (rc) {
    case TTST_HEAP_WALK_NO_RUNTIME:
      return "the ttst runtime block is unreadable or has a foreign magic, ABI version or descriptor size";
    case TTST_HEAP_WALK_UNMAPPED:
      return "heap list points to unreadable memory";
    case TTST_HEAP_WALK_BAD_MAGIC:
      return "heap list holds a descriptor that is not live";
    case TTST_HEAP_WALK_BAD_LINK:
      return "heap list links or counts disagree";
    case TTST_HEAP_WALK_LOCKED:
      return "a heap list lock is held: the process was not quiescent";
    default:
      return "heap walk failed";
  }
}

}  // namespace

bool read_heap_objects(Memory& p, uint64_t runtime_addr, std::vector<HeapObject>& out,
                       std::string& error) {
  Reads reads{&p, runtime_addr, {}, {}};
  int64_t rc = ttst_heap_walk(runtime_addr, translate, &reads, visit, &out);
  if (rc < 0) return error = describe(rc), false;
  return true;
}

}  // namespace ttst::diff
