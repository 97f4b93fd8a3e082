// host_process.cc — see host_process.h.
#include "stfw/tests/host_process.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"
#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/xfer/library_state.h"

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

uint8_t* HostProcess::at(const char* id, uint64_t off) {
  const auto* g = v.global(id);
  REQUIRE_MESSAGE(g != nullptr, id);
  return mem + g->addr + off;
}

uint64_t HostProcess::fn(const char* id) {
  const auto* f = v.function(id);
  REQUIRE_MESSAGE(f != nullptr, id);
  return f->low + bias();
}

uint8_t* HostProcess::add_heap_object(uint64_t desc_at, uint64_t size, uint64_t dyn_id, uint64_t origin_id) {
  REQUIRE(desc_at + sizeof(ttst_heap_desc) + size <= kMemSize);
  auto* d = reinterpret_cast<ttst_heap_desc*>(mem + desc_at);
  std::memset(d, 0, sizeof *d + size);
  ttst_heap_stripe& s = runtime()->stripes[0];
  d->size = size, d->dyn_id = dyn_id, d->origin_id = origin_id, d->magic = TTST_HEAP_LIVE;
  d->next = &s.head, d->prev = s.head.prev;
  s.head.prev->next = d, s.head.prev = d;
  s.live++;
  return reinterpret_cast<uint8_t*>(d + 1);
}

namespace {
HostProcess* carved_future = nullptr;
uint64_t carve_at = 0;
}  // namespace

void carve_future_from(HostProcess& dest, uint64_t at) { carved_future = &dest, carve_at = at; }

uint64_t carve_future(void*, uint64_t size, uint64_t, uint64_t origin) {
  uint8_t* p = carved_future->add_heap_object(carve_at, size, 100 + origin, origin);
  carve_at += (sizeof(ttst_heap_desc) + size + 15) & ~15ull;
  return reinterpret_cast<uint64_t>(p);
}

void link_dnode_ring(HostProcess& p, const std::vector<uint8_t*>& nodes, int32_t first_value) {
  const uint64_t ring = p.addr("ring");
  for (uint64_t i = 0; i < nodes.size(); ++i) {
    const uint64_t next = i + 1 < nodes.size() ? reinterpret_cast<uint64_t>(nodes[i + 1]) : ring;
    std::memcpy(nodes[i], &ring, 8), std::memcpy(nodes[i] + 8, &next, 8);
    const int32_t v = first_value + int32_t(i);
    std::memcpy(nodes[i] + 16, &v, 4);
  }
  p.put<uint64_t>("ring", 0, reinterpret_cast<uint64_t>(nodes.back()));
  p.put<uint64_t>("ring", 8, reinterpret_cast<uint64_t>(nodes.front()));
}

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

int beside_started = 0;

namespace {
BesideSchedule beside_schedule;
std::thread beside_thread;
void (*beside_fn)(void*) = nullptr;
void* beside_arg = nullptr;
bool start_beside(void*, void (*fn)(void*), void* arg) {
  ++beside_started;
  if (beside_schedule == BesideSchedule::kFirst) return fn(arg), true;
  if (beside_schedule == BesideSchedule::kLast) return beside_fn = fn, beside_arg = arg, true;
  beside_thread = std::thread(fn, arg);
  return true;
}
void wait_beside(void*) {
  if (beside_thread.joinable()) beside_thread.join();
  if (beside_fn) beside_fn(beside_arg), beside_fn = nullptr;
}
}  // namespace

TransferRun run_transfer(HostProcess& source, HostProcess& dest, HostTransfer how) {
  static char out[4096];
  out[0] = 0;
  if (how.regions.empty()) how.regions.push_back(Region{source.bias(), HostProcess::kMemSize, source.mem});
  Config c;
  c.backward = how.backward;
  c.src_meta = source.v, c.dst_meta = dest.v, c.src_bias = source.bias(), c.dst_bias = dest.bias();
  c.src_runtime = source.bias() + source.v.runtime_addr(), c.dst_runtime = dest.bias() + dest.v.runtime_addr();
  c.regions = how.regions.data(), c.region_count = how.regions.size(), c.out = out, c.out_size = sizeof out;
  if (how.kernel_words) {
    how.kernel_out->assign(how.kernel_words->size(), 0);
    c.kernel_words = how.kernel_words->data(), c.kernel_count = how.kernel_words->size();
    c.kernel_out = how.kernel_out->data();
  }
  c.own_stack_lo = how.own_stack_lo, c.own_stack_hi = how.own_stack_hi, c.own_frame = how.own_frame;
  Env env{how.scratch, nullptr, how.alloc, nullptr};
  env.release = how.release;
  env.read_own = how.read_own;
  beside_schedule = how.beside;
  if (how.beside != BesideSchedule::kNone) env.beside = &start_beside, env.beside_wait = &wait_beside;
  c.beside_min = how.beside_min;
  if (how.library_adapters) {
    c.library_adapters = library_adapters(&c.library_adapter_count);
    env.ctx = how.library_env.ctx, env.library_release = how.library_env.library_release;
    env.library_embedded = how.library_env.library_embedded, env.library_handle = how.library_env.library_handle;
  }
  TransferRun run;
  run.r = transfer(c, env);
  run.msg = out;
  if (const size_t fix = run.msg.rfind(TTST_STFW_FIX_MARKER); fix != std::string::npos)  // refusal_advice.cc
    run.fix = run.msg.substr(fix + std::string(TTST_STFW_FIX_MARKER).size()), run.msg.resize(fix);
  run.superseded.assign(run.r.superseded, run.r.superseded + run.r.superseded_count);
  run.r.superseded = nullptr;
  free_scratch();
  return run;
}

}  // namespace ttst::stfw::testing
