// xfer_fixture.cc — see xfer_fixture.h.
#include "stfw/tests/xfer_fixture.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "diff/differ.h"
#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"
#include "inject/memory.h"
#include "inject/sys/proc_maps.h"
#include "inject/tests/test_util.h"
#include "stfw/abi/ttst_abi.h"
#include "stfw/stfw_task.h"

namespace ttst::stfw::testing {

using namespace ttst::inject;

uint64_t exe_bias(pid_t pid) {
  char buf[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/PID/exe");
  std::string exe(buf, size_t(n));
  for (const sys::Mapping& m : sys::read_maps(pid))
    if (m.path == exe) return m.start;  // first mapping: offset 0, link address 0 (PIE)
  throw std::runtime_error("no mapping of " + exe);
}

void run_to_marker(Task& t, bool or_sleep) {
  bool in_syscall = false;
  for (int i = 0; i < 100000; ++i) {
    t.resume(PTRACE_SYSCALL);
    Stop s = t.wait(milliseconds(5000), "future version reaching its update point");
    if (s.kind == StopKind::kSyscall) {
      in_syscall = !in_syscall;
      if (!in_syscall) continue;
      user_regs_struct r = t.get_regs();
      if (r.orig_rax == TTST_MARKER_SYSCALL && r.rdi == TTST_MARKER_MAGIC && r.rdx == TTST_MARKER_FUTURE) return;
      if (or_sleep && (r.orig_rax == SYS_clock_nanosleep || r.orig_rax == SYS_nanosleep)) return;
    } else if (!s.alive()) {
      throw std::runtime_error("future version died before its update point: " + s.describe());
    }
  }
  throw std::runtime_error("future version never reached an update point");
}

std::string message(const inject::AgentOutcome& o) {
  return std::string(reinterpret_cast<const char*>(o.output.data()),
                     strnlen(reinterpret_cast<const char*>(o.output.data()), o.output.size()));
}

std::vector<uint8_t> image_of(const std::string& path) { return dwarfmeta::write_image(dwarfmeta::load(path)); }

void RoundTrip::start() {
  inject::testing::become_subreaper();
  std::vector<std::string> argv{v1};
  argv.insert(argv.end(), args.begin(), args.end());
  inject::testing::Spawned s = inject::testing::spawn(argv);
  p = s.pid, p_out = s.from_child, p_in = s.to_child;
  if (says_ready) {
    std::string line = inject::testing::read_line(p_out);
    if (line != "ready") throw std::runtime_error("P said " + line);
  }
  inject::testing::wait_in_syscall(p, {SYS_clock_nanosleep, SYS_nanosleep});
  img1 = image_of(v1);
  img2 = image_of(v2);
  ps.emplace(SeizedProcess::seize(p));
  r.emplace(create_reversed(ps->main_thread()));
  if (before_future) before_future();
  FutureSpec spec;
  spec.exe = v2;
  if (!future_args.empty()) {
    spec.argv = {v2};
    spec.argv.insert(spec.argv.end(), future_args.begin(), future_args.end());
  }
  f.emplace(create_future(ps->main_thread(), spec));
  run_to_marker(f->task(), future_stops_at_sleep);
}

static AgentOutcome run(Task& t, uint32_t task, pid_t peer, const std::vector<uint8_t>& self,
                        const std::vector<uint8_t>& other, uint64_t self_bias, uint64_t peer_bias,
                        uint64_t self_rt, uint64_t peer_rt, uint64_t heap, uint64_t peer_tp, uint32_t helpers) {
  AgentRequest rq;
  rq.task = task;
  rq.mode = task == TTST_AGENT_TASK_STFW_FORWARD ? TTST_AGENT_MODE_FORWARD : TTST_AGENT_MODE_BACKWARD;
  rq.peer_pid = peer;
  rq.meta_self = self;
  rq.meta_peer = other;
  rq.args[TTST_STFW_ARG_SELF_BIAS] = self_bias;
  rq.args[TTST_STFW_ARG_PEER_BIAS] = peer_bias;
  rq.args[TTST_STFW_ARG_SELF_RUNTIME] = self_rt;
  rq.args[TTST_STFW_ARG_PEER_RUNTIME] = peer_rt;
  rq.args[TTST_STFW_ARG_PEER_TP] = peer_tp;
  rq.heap_size = heap;
  rq.helpers = helpers;
  rq.timeout = milliseconds(20000);
  return run_agent(t, rq);
}

static uint64_t runtime_of(const std::vector<uint8_t>& img) {
  dwarfmeta::image::View v;
  const char* why = nullptr;
  if (!dwarfmeta::image::View::open(img.data(), img.size(), &v, &why)) throw std::runtime_error(why);
  return v.runtime_addr();
}

AgentOutcome RoundTrip::forward() {
  uint64_t fb = exe_bias(f->pid()), pb = exe_bias(p);
  return run(f->task(), TTST_AGENT_TASK_STFW_FORWARD, p, img2, img1, fb, pb, runtime_of(img2) + fb,
             runtime_of(img1) + pb, heap_size, ps->main_thread().get_regs().fs_base, helpers);
}

AgentOutcome RoundTrip::backward() {
  uint64_t fb = exe_bias(f->pid()), rb = exe_bias(r->pid());
  return run(r->task(), TTST_AGENT_TASK_STFW_BACKWARD, f->pid(), img1, img2, rb, fb, runtime_of(img1) + rb,
             runtime_of(img2) + fb, heap_size, f->task().get_regs().fs_base, helpers);
}

std::string RoundTrip::compare() {
  diff::Result res = diff::diff_processes(p, r->pid());
  if (res.equal()) return "";
  std::ostringstream o;
  uint64_t bias = exe_bias(p);
  dwarfmeta::Program prog = dwarfmeta::load(v1);
  for (const auto& m : res.mappings) o << m.describe() << "\n";
  for (const auto& b : res.bytes) {
    o << std::hex << "0x" << b.addr << " +" << std::dec << b.len;
    for (const auto& g : prog.globals)
      if (!g.tls && b.addr >= g.addr + bias && b.addr < g.addr + bias + g.size)
        o << " (" << g.id << "+" << (b.addr - g.addr - bias) << ")";
    o << " P:";
    for (uint8_t c : b.p) o << " " << int(c);
    o << " R:";
    for (uint8_t c : b.r) o << " " << int(c);
    o << "\n";
  }
  return o.str();
}

std::string RoundTrip::release_future() {
  uint64_t rt = runtime_of(img2) + exe_bias(f->pid());
  uint32_t zero[2] = {0, 0};  // update_requested, updating
  write_memory(f->pid(), rt + offsetof(ttst_runtime, update_requested),
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(zero), sizeof zero));
  released_f = f->pid();
  f->release();
  return inject::testing::read_line(p_out);
}

RoundTrip::~RoundTrip() {
  if (released_f > 0) kill(released_f, SIGKILL), inject::testing::gone(released_f);
  f.reset();
  r.reset();
  ps.reset();
  if (p > 0) inject::testing::kill_and_reap(p);
  if (p_out >= 0) close(p_out);
  if (p_in >= 0) close(p_in);
}

}  // namespace ttst::stfw::testing
