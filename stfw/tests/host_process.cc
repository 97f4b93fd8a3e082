// host_process.cc — see host_process.h.
#include "stfw/tests/host_process.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>

#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"
#include "inject/tests/test_util.h"

namespace ttst::stfw::testing {

HostProcess::HostProcess(const char* path) {
  img = dwarfmeta::write_image(dwarfmeta::load(inject::testing::runfile(path)));
  const char* why = nullptr;
  REQUIRE(dwarfmeta::image::View::open(img.data(), img.size(), &v, &why));
  mem = static_cast<uint8_t*>(aligned_alloc(4096, kMemSize));
  std::memset(mem, 0, kMemSize);
  ttst_runtime* rt = runtime();
  rt->magic = TTST_RUNTIME_MAGIC, rt->abi_version = TTST_ABI_VERSION, rt->desc_size = sizeof(ttst_heap_desc);
  for (auto& s : rt->stripes) s.head.next = s.head.prev = &s.head, s.head.magic = TTST_HEAP_HEAD;
}

HostProcess::~HostProcess() { free(mem); }

namespace {
std::vector<void*> scratch_blocks;
}  // namespace

void* scratch(void*, uint64_t size) {
  void* p = aligned_alloc(16, (size + 15) & ~15ull);
  if (p) scratch_blocks.push_back(p);
  return p;
}

void free_scratch() {
  for (void* p : scratch_blocks) free(p);
  scratch_blocks.clear();
}

}  // namespace ttst::stfw::testing
