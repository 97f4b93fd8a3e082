// agent_transfer.cc — see agent_transfer.h.
#include "supervisor/agent_transfer.h"

#include <x86intrin.h>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <spdlog/spdlog.h>

#include "inject/agent/agent_abi.h"
#include "inject/agent_session.h"
#include "inject/memory.h"
#include "inject/sys/proc_maps.h"
#include "stfw/stfw_task.h"
#include "supervisor/future_frames.h"
#include "supervisor/transaction_end.h"

namespace ttst::supervisor {
namespace {

using std::chrono::milliseconds;

// The agent's arena must hold a copy of the peer's writable memory plus its own
// tables for the objects of both sides (stfw/README.md). The arena is anonymous
// memory the kernel commits only when touched, so it is sized generously: four
// times the peer's writable memory and 256 MiB more.
uint64_t agent_heap_size(pid_t peer) {
  uint64_t writable = 0;
  for (const sys::Mapping& m : sys::read_maps(peer))
    if (m.writable()) writable += m.end - m.start;
  return ((4 * writable + (256ull << 20)) + 4095) & ~uint64_t{4095};
}

// A long transfer's progress on stderr, every 2 s (inject::AgentRequest::on_progress):
// the phase and objects the agent says it is at — shown, never believed: the time
// limit was fixed before the agent started.
void show_progress(const char* dir, const std::array<uint64_t, 4>& p, milliseconds at, milliseconds limit) {
  static const char* const kPhases[] = {"starting", "copying the peer's memory", "indexing objects", "typing objects",
                                        "mapping objects", "writing objects"};
  const char* phase = p[0] < std::size(kPhases) ? kPhases[p[0]] : "in an unknown phase";
  std::string count;
  if (p[0] == TTST_AGENT_PROGRESS_WRITE && p[2])
    count = ", " + std::to_string(p[1]) + " of " + std::to_string(p[2]);
  else if (p[2])
    count = ", " + std::to_string(p[2]) + " objects";
  std::fprintf(stderr, "ttst-supervise: %s transfer: %s%s (%.1f s of the %.1f s left at its start)\n", dir, phase,
               count.c_str(), at.count() / 1000.0, limit.count() / 1000.0);
}

// Room a kept region keeps for the second run's input beyond the frames: its
// changed ranges, 16 bytes each (two million; more and the run is refused before
// it starts, and the caller transfers everything again). Address space only.
constexpr uint64_t kDeltaInputRoom = 32ull << 20;

inject::AgentRequest agent_request(const TransferRequest& t, const TestHooks* hooks) {
  inject::AgentRequest req;
  req.task = t.backward ? TTST_AGENT_TASK_STFW_BACKWARD : TTST_AGENT_TASK_STFW_FORWARD;
  req.mode = t.backward ? TTST_AGENT_MODE_BACKWARD : TTST_AGENT_MODE_FORWARD;
  if (hooks) {
    const std::optional<uint32_t>& forced = t.backward ? hooks->backward_task : hooks->forward_task;
    if (forced) req.task = *forced;
  }
  req.peer_pid = t.peer;
  req.args[TTST_STFW_ARG_SELF_BIAS] = t.self.bias.value();
  req.args[TTST_STFW_ARG_PEER_BIAS] = t.other.bias.value();
  req.args[TTST_STFW_ARG_SELF_RUNTIME] = t.self.runtime_block.value();
  req.args[TTST_STFW_ARG_PEER_RUNTIME] = t.other.runtime_block.value();
  req.args[TTST_STFW_ARG_FLAGS] = t.keep ? TTST_STFW_F_KEEP : 0;
  req.args[TTST_STFW_ARG_PEER_TP] = t.peer_thread_pointer;
  if (!t.backward) {  // F's own frames at its update point (engine_frames.cc)
    user_regs_struct regs = t.thread->get_regs();
    req.args[TTST_STFW_ARG_SELF_SP] = regs.rsp;
    req.args[TTST_STFW_ARG_SELF_FP] = regs.rbp;
  } else {
    req.args[TTST_STFW_ARG_PEER_SKIP_LO] = t.peer_skip.first;
    req.args[TTST_STFW_ARG_PEER_SKIP_HI] = t.peer_skip.second;
  }
  req.meta_self = t.self.metadata_image;
  req.meta_peer = t.other.metadata_image;
  req.plugin = t.plugin;  // --xfer: loaded and run by the (untrusted) agent
  req.input = t.frames;  // the roots of the stack (past_frames.h)
  req.output_size = 1 << 20;
  req.heap_size = agent_heap_size(t.peer);
  // One helper thread faults the agent's fresh memory in on the other CPU
  // (inject/agent/helper.h): F and R are discarded on any failure.
  req.helpers = 1;
  if (t.keep) {  // pre-copy's round: the region stays for the second run, with room for its input
    req.keep_region = true;
    // and for the second runs' own allocations, which stay while rounds on the
    // delta follow one another (address space: touched only when used)
    req.heap_size *= 2;
    req.input_capacity = t.frames.size() + kDeltaInputRoom;
  }
  // The wall bound the host keeps itself (--timeout, or the default's cap); the
  // default's CPU budget and wall ceiling are asked of the kernel as the agent runs.
  req.timeout = std::max(t.limit->cap_left(), milliseconds(1));
  if (!t.limit->limits().hard())
    req.out_of_time = [limit = t.limit] { return limit->exceeded().first != Bound::kNone; };
  req.on_progress = [backward = t.backward, limit = req.timeout](const std::array<uint64_t, 4>& p, milliseconds at) {
    show_progress(backward ? "backward" : "forward", p, at, limit);
  };
  return req;
}

// The agent's first output line (its message for any status but OK).
std::string first_line(const std::vector<uint8_t>& output) {
  std::string line;
  for (uint8_t c : output) {
    if (c == 0) break;
    line.push_back(static_cast<char>(c));
  }
  return line;
}

// What follows `prefix` on each of the agent's output lines that starts with it.
std::vector<std::string> prefixed_lines(const std::vector<uint8_t>& output, const std::string& prefix) {
  std::vector<std::string> found;
  for (size_t at = 0, end; at < output.size(); at = end + 1) {
    end = at;
    while (end < output.size() && output[end] != 0) ++end;
    std::string line(output.begin() + at, output.begin() + end);
    if (line.rfind(prefix, 0) == 0) found.push_back(line.substr(prefix.size()));
  }
  return found;
}

// The value of "key=" in the agent's line of figures (its first line on success), or
// `none` when absent.
std::string figure(const std::string& line, const std::string& key, const std::string& none = "0") {
  const std::string words = " " + line;
  const size_t at = words.find(" " + key + "=");
  if (at == std::string::npos) return none;
  const size_t from = at + key.size() + 2, to = words.find(' ', from);
  return words.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

uint64_t figure_number(const std::string& line, const std::string& key) {
  const std::string v = figure(line, key);
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::stoull(v);
}

// "N,M" (or "-") from the forward figures: P's library descriptors F does not use.
std::vector<int> descriptor_list(const std::string& text) {
  std::vector<int> fds;
  size_t from = 0;
  while (text != "-" && from < text.size()) {
    size_t to = text.find(',', from);
    const std::string one = text.substr(from, to == std::string::npos ? std::string::npos : to - from);
    if (!one.empty() && one.size() < 10 && one.find_first_not_of("0123456789") == std::string::npos)
      fds.push_back(std::stoi(one));
    if (to == std::string::npos) break;
    from = to + 1;
  }
  return fds;
}

// How many descriptors `pid` holds, and its soft RLIMIT_NOFILE ("" when unreadable).
std::string descriptor_use(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  long open = 0;
  for (auto it = std::filesystem::directory_iterator(proc + "/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++open;
  std::ifstream limits(proc + "/limits");
  std::string line, soft;
  while (std::getline(limits, line))
    if (line.rfind("Max open files", 0) == 0) std::istringstream(line.substr(14)) >> soft;  // the soft limit
  if (ec || soft.empty()) return "";
  return ": it holds " + std::to_string(open) + " descriptors, its limit (RLIMIT_NOFILE) is " + soft;
}

// The agent could not open a /proc file because F or R had no free descriptor
// (or the system none): the program's resources, not a fault of ttst.
[[noreturn]] void out_of_descriptors(const TransferRequest& t, const std::string& dir, int64_t status,
                                     const std::string& line) {
  const bool future = std::string(t.process) == "future";
  if (status == TTST_STFW_STATUS_NO_FILE_TABLE)
    rollback(Reason::kResourceLimit,
             "the system's file table is full (ENFILE): the " + dir + " transfer could not open a file in the " +
                 t.process + " process",
             "close files elsewhere or raise fs.file-max, then try again; the old version keeps serving",
             std::nullopt, line);
  const std::string use = descriptor_use(t.thread->tid());
  if (future)
    rollback(Reason::kResourceLimit,
             "the new version has no free file descriptor after its start-up, so the forward transfer could not "
             "open /proc files in it (EMFILE)" + use,
             "raise v2's descriptor limit (ulimit -n, systemd LimitNOFILE=) or make its start-up open fewer files; "
             "the old version keeps serving",
             std::nullopt, line);
  rollback(Reason::kResourceLimit,
           "the copy of the old version (" + std::string(t.process) +
               " process) has no free file descriptor, so the " + dir + " transfer could not open /proc files in it "
               "(EMFILE)" + use,
           "raise the program's descriptor limit (ulimit -n, systemd LimitNOFILE=) and restart it, or let it close "
           "descriptors; the old version keeps serving",
           std::nullopt, line);
}

// Backward with a plugin: "unvalidated TARGET N" lines (stfw_task.h) as "TARGET (N objects)".
std::vector<std::string> unvalidated_lines(const std::vector<uint8_t>& output) {
  std::vector<std::string> found;
  const std::string prefix = TTST_STFW_UNVALIDATED_PREFIX;
  std::string text(output.begin(), output.end());
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\0', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    const size_t space = line.rfind(' ');
    if (line.rfind(prefix, 0) == 0 && space > prefix.size())
      found.push_back(line.substr(prefix.size(), space - prefix.size()) + " (" + line.substr(space + 1) + " objects)");
    at = end + 1;
  }
  return found;
}

// A crash or hang while a plugin function ran: " in the transfer plugin's FN on
// OBJECT" (the agent's first output line then, stfw_task.h), else "".
std::string plugin_function(const inject::AgentOutcome& out) {
  const std::string line = first_line(out.output), running = TTST_STFW_PLUGIN_RUNNING;
  if (line.rfind(running, 0) != 0) return "";
  return " in the transfer plugin's " + line.substr(running.size());
}

Transfer finished(const TransferRequest& t, const inject::AgentOutcome& out, const std::string& dir) {
  const std::string line = first_line(out.output);
  if (out.status == TTST_STFW_STATUS_OK) {
    Transfer done;
    done.direction = dir;
    done.objects = out.detail[TTST_STFW_DETAIL_OBJECTS], done.bytes = out.detail[TTST_STFW_DETAIL_BYTES];
    done.pointers = out.detail[TTST_STFW_DETAIL_POINTERS], done.transforms = out.detail[TTST_STFW_DETAIL_TRANSFORMS];
    done.carved = figure_number(line, "carved");
    done.walked = figure_number(line, "walked");
    done.containers = figure_number(line, "containers");
    done.container_free_bytes = figure_number(line, "container_free_bytes");
    if (!t.backward) done.past_library_fds = descriptor_list(figure(line, "past_library_fds", "-"));
    done.dead_pointers = figure_number(line, "dead_pointers");
    done.unmapped_words = figure_number(line, "unmapped_words");
    if (!t.backward) done.keep_new_candidates = prefixed_lines(out.output, TTST_STFW_KEEP_NEW_CANDIDATE_PREFIX);
    done.plugin_calls = figure_number(line, "plugin_calls");
    done.unvalidated = unvalidated_lines(out.output);
    done.integers = figure_number(line, "integers");
    done.literals = figure_number(line, "literals");
    return done;
  }
  if (out.status == TTST_AGENT_STATUS_UNKNOWN_TASK)
    internal("this build has no state-transfer engine (the agent does not know the " + dir + " transfer task)",
             "build ttst with stfw's transfer engine; the old version keeps serving");
  if (out.status == TTST_STFW_STATUS_NO_DESCRIPTOR || out.status == TTST_STFW_STATUS_NO_FILE_TABLE)
    out_of_descriptors(t, dir, out.status, line);
  if (out.status == TTST_STFW_STATUS_BAD_INPUT && line.find("transfer plugin") != std::string::npos)
    rollback(Reason::kBadInput, "the " + dir + " transfer refused the transfer plugin: " + line,
             "fix the plugin (ttst-meta xfer-skeleton generates its types and functions); the old version keeps "
             "serving",
             std::nullopt, line);
  if (out.status == TTST_STFW_STATUS_BAD_INPUT && line.rfind("bad input: annotation", 0) == 0)  // the user's annotation
    rollback(Reason::kBadInput, "the " + dir + " transfer refused an annotation: " + line,
             "fix or remove the annotation (ttst.h or TTST_ANNOTATIONS; stfw/README.md lists each kind's target); "
             "the old version keeps serving",
             std::nullopt, line);
  // Out of memory in F or R (the program's allocator or the agent's arena): the
  // update cannot be carried out here, P is untouched; a plugin asking for absurd
  // sizes ends the same way.
  if (out.status == TTST_STFW_STATUS_NO_MEMORY)
    rollback(Reason::kResourceLimit,
             "the " + dir + " transfer ran out of memory in the " + t.process + " process: " + line,
             std::string(t.plugin.empty() ? "" : "check the sizes the transfer plugin asks for; ") +
                 "free memory or raise the program's memory limit, then retry; the old version keeps serving",
             std::nullopt, line);
  // With a plugin, F's heap is what the user's code left: heap lists it made
  // unreadable (a write past its object) are the plugin's fault, not ttst's.
  if (out.status == TTST_STFW_STATUS_BAD_INPUT && !t.plugin.empty())
    rollback(Reason::kBadInput, "the " + dir + " transfer could not read the state the transfer plugin left: " + line,
             "check the plugin for writes past the objects it fills (run it under the plugin's tests); the old "
             "version keeps serving",
             std::nullopt, line);
  if (out.status == TTST_STFW_STATUS_INVARIANT || out.status == TTST_STFW_STATUS_AMBIGUOUS) {
    // The engine ends a refusal with "; fix: " and the line(s) that resolve it
    // (stfw/xfer/refusal_advice.cc): the advice, copy-pasteable.
    const size_t fix = line.rfind(TTST_STFW_FIX_MARKER);
    if (fix != std::string::npos)
      rollback(Reason::kInvariant, "the " + dir + " transfer refused: " + line.substr(0, fix),
               line.substr(fix + std::string(TTST_STFW_FIX_MARKER).size()) + "; the old version keeps serving",
               std::nullopt, line);
    rollback(Reason::kInvariant, "the " + dir + " transfer refused: " + line,
             "add transfer code or annotations for this object (see ttst-meta plan)", std::nullopt, line);
  }
  internal("the " + dir + " transfer failed with status " + std::to_string(out.status) +
               (line.empty() ? "" : ": " + line),
           "report this with the post-mortem report; the old version keeps serving", line);
}

// The agent's cycles per phase in ms, by the rate of the same (invariant) TSC
// against this process's clock over the whole run; the agent's figures are only
// shown, never trusted for a decision.
void agent_phases(const std::string& line, uint64_t run_cycles, double run_ms, Transfer& done) {
  const double cycles_per_ms = run_ms > 0 && run_cycles > 0 ? run_cycles / run_ms : 0;
  if (cycles_per_ms == 0) return;
  for (const char* phase : {"copy", "index", "type", "map", "write"})
    done.agent_phases.push_back({phase, figure_number(line, std::string(phase) + "_cycles") / cycles_per_ms});
  done.copy_bytes = figure_number(line, "copy_bytes");
  done.copy_untouched_bytes = figure_number(line, "copy_untouched_bytes");
  done.copy_small_page_bytes = figure_number(line, "copy_small_page_bytes");
  done.cpu_ms = figure_number(line, "cpu_ns") / 1e6;
}

}  // namespace

Transfer run_transfer(const TransferRequest& t, const TestHooks* hooks) {
  const inject::AgentImage& agent = hooks && hooks->agent ? *hooks->agent : inject::AgentImage::embedded();
  const uint64_t tsc0 = __rdtsc();
  const auto t0 = std::chrono::steady_clock::now();
  inject::AgentOutcome out = inject::run_agent(*t.thread, agent_request(t, hooks), agent);
  const double run_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t run_cycles = __rdtsc() - tsc0;
  const std::string dir = t.backward ? "backward" : "forward";
  switch (out.kind) {
    case inject::AgentOutcome::Kind::kFinished: {
      Transfer done = finished(t, out, dir);
      agent_phases(first_line(out.output), run_cycles, run_ms, done);
      // The agent's per-phase cycles and CPU time (-v): where a slow transfer spent its time.
      const std::string line = first_line(out.output);
      spdlog::debug("{} transfer figures: copy_cycles={} index_cycles={} type_cycles={} map_cycles={} write_cycles={} "
                    "cpu_ns={} frame_roots={} own_reads={} write_threads={} written_beside={}",
                    dir, figure(line, "copy_cycles"), figure(line, "index_cycles"), figure(line, "type_cycles"),
                    figure(line, "map_cycles"), figure(line, "write_cycles"), figure(line, "cpu_ns"),
                    figure(line, "frame_roots"), figure(line, "own_reads"), figure(line, "write_threads"),
                    figure(line, "written_beside"));
      spdlog::debug("{} agent arena (bytes): copy={} setup={} index={} (table {}) type={} map={} write={} used={}", dir,
                    figure(line, "arena_copy"), figure(line, "arena_setup"), figure(line, "arena_index"),
                    figure(line, "arena_table"), figure(line, "arena_type"), figure(line, "arena_map"),
                    figure(line, "arena_write"), figure(line, "arena_used"));
      if (t.keep && out.kept) {  // kept for a second run: its region (cured by the caller) and the run in it
        const std::vector<std::string> runs = prefixed_lines(out.output, TTST_STFW_KEPT_PREFIX);
        *t.keep = KeptTransfer{*out.kept, runs.empty() ? 0 : std::stoull(runs.front(), nullptr, 16)};
      }
      // F's registers and stack against what the transfer superseded (future_frames.h).
      if (!t.backward) {
        const std::vector<SupersededObject> superseded = parse_superseded(out.output);
        set_local_registers(*t.thread, parse_local_registers(out.output));  // before the remap: values, not pointers
        settle_future_frames(*t.thread, superseded);
        for (inject::Task* other : t.other_threads) settle_future_frames(*other, superseded);
      }
      return done;
    }
    case inject::AgentOutcome::Kind::kCrashed: {
      const std::string plugin = plugin_function(out);  // a user transfer function was running
      rollback(Reason::kCrash,
               "the " + dir + " transfer crashed" + plugin + " in the " + t.process + " process: " + out.describe(),
               "the old version keeps serving; send the report to the transfer code's authors",
               Crash{t.process, out.signal, out.fault_address, out.instruction,
                     plugin.empty() ? out.symbol : plugin.substr(std::string(" in the transfer plugin's ").size())});
    }
    case inject::AgentOutcome::Kind::kHung: {
      const std::string plugin = plugin_function(out);
      if (!t.limit->limits().hard()) {  // the bound hit, with the kernel's figures (time_limit.h)
        auto [bound, what] = t.limit->exceeded();
        if (bound == Bound::kNone) what = describe(Bound::kWallCap, t.limit->limits(), t.limit->spent());
        rollback(Reason::kTimeout, "the " + dir + " transfer did not finish in time" + plugin + ": " + what + "; " +
                                       out.describe(),
                 std::string(plugin.empty() ? "check the transfer for a loop or a wait that never ends"
                                            : "check that function of the transfer plugin for a loop that never ends") +
                     " (or set --timeout, a hard wall bound, if the machine is slow); the old version keeps serving");
      }
      rollback(Reason::kTimeout,
               "the " + dir + " transfer did not finish in time" + plugin + ": " +
                   describe(Bound::kTimeout, t.limit->limits(), t.limit->spent()) + "; " + out.describe(),
               plugin.empty() ? "raise --timeout if the state is large; the old version keeps serving"
                              : "check that function of the transfer plugin for a loop that never ends (or raise "
                                "--timeout if the state is large); the old version keeps serving");
    }
    case inject::AgentOutcome::Kind::kDied:
      rollback(Reason::kCrash, std::string("the ") + t.process + " process died during the " + dir + " transfer",
               "the old version keeps serving; see the report");
  }
  internal("the " + dir + " transfer ended in an unknown way", "the old version keeps serving; see the report");
}

DeltaTransferOutcome run_delta_transfer(const DeltaTransferRequest& t, const TestHooks* hooks) {
  const std::string dir = t.backward ? "backward" : "forward";
  const inject::AgentImage& agent = hooks && hooks->agent ? *hooks->agent : inject::AgentImage::embedded();
  inject::AgentRequest req;
  req.task = hooks && hooks->delta_task ? *hooks->delta_task : uint32_t{TTST_AGENT_TASK_STFW_DELTA};
  req.mode = t.backward ? TTST_AGENT_MODE_BACKWARD : TTST_AGENT_MODE_FORWARD;
  req.peer_pid = t.peer;
  req.args[TTST_STFW_DELTA_ARG_KEPT] = t.kept->run;
  req.args[TTST_STFW_DELTA_ARG_SELF_BIAS] = t.self.bias.value();
  req.args[TTST_STFW_DELTA_ARG_LAST] = t.keep ? 0 : 1;  // not kept: no run follows
  req.meta_self = t.self.metadata_image;  // the engine's views of the first run point into their slots
  req.meta_peer = t.other.metadata_image;
  req.plugin = t.plugin;
  // The changed bytes go in the input only while it fits the slot the first run's
  // region has for it (a long first round's delta may not): else the agent reads them.
  const uint64_t room = t.kept->region.layout.output - t.kept->region.layout.input;
  const uint64_t without = sizeof(ttst_stfw_delta_header) + 16 * (t.changed.size() + t.own.size()) + t.frames.size();
  const bool give = !t.changed_bytes.empty() && without + t.changed_bytes.size() <= room && !(hooks && hooks->agents_read);
  ttst_stfw_delta_header h{TTST_STFW_DELTA_MAGIC, t.changed.size(), t.own.size(), t.frames.size(),
                           give ? t.changed_bytes.size() : 0};
  std::vector<uint8_t> input(sizeof h);
  std::memcpy(input.data(), &h, sizeof h);
  for (const auto* list : {&t.changed, &t.own})
    for (const auto& [lo, hi] : *list)
      for (uint64_t w : {lo, hi}) input.insert(input.end(), reinterpret_cast<const uint8_t*>(&w),
                                              reinterpret_cast<const uint8_t*>(&w) + 8);
  input.insert(input.end(), t.frames.begin(), t.frames.end());
  if (give) input.insert(input.end(), t.changed_bytes.begin(), t.changed_bytes.end());
  req.input = input;
  req.output_size = 1 << 20;
  req.helpers = 1;
  req.in_region = &t.kept->region;  // removed when the run ends, unless kept again and finished
  req.keep_region = t.keep;
  req.timeout = std::max(t.limit->cap_left(), milliseconds(1));
  if (!t.limit->limits().hard())
    req.out_of_time = [limit = t.limit] { return limit->exceeded().first != Bound::kNone; };
  DeltaTransferOutcome result;
  inject::AgentOutcome out;
  const uint64_t tsc0 = __rdtsc();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    out = inject::run_agent(*t.thread, req, agent);
  } catch (const std::exception& e) {
    result.why_not = "the " + dir + " second run could not start: " + e.what();
    return result;
  }
  const double run_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const std::string line = first_line(out.output);
  if (out.kind != inject::AgentOutcome::Kind::kFinished) {
    result.why_not = "the " + dir + " second run " + out.describe();
    return result;
  }
  if (out.status != TTST_STFW_STATUS_OK) {
    result.why_not = "the " + dir + " second run " +
                     (out.status == TTST_STFW_STATUS_DELTA_REFUSED ? "refused: " : "failed: ") + line;
    return result;
  }
  Transfer done;
  done.direction = dir + "_delta";
  done.objects = out.detail[TTST_STFW_DETAIL_OBJECTS], done.bytes = out.detail[TTST_STFW_DETAIL_BYTES];
  done.pointers = out.detail[TTST_STFW_DETAIL_POINTERS], done.transforms = out.detail[TTST_STFW_DETAIL_TRANSFORMS];
  done.dead_pointers = figure_number(line, "dead_pointers");
  done.unmapped_words = figure_number(line, "unmapped_words");
  agent_phases(line, __rdtsc() - tsc0, run_ms, done);
  spdlog::debug("{} second run figures: {}", dir, line);
  if (!t.backward) set_local_registers(*t.thread, parse_local_registers(out.output));  // scalar locals settled again
  if (t.keep && out.kept) result.kept = KeptTransfer{*out.kept, t.kept->run};
  result.done = done;
  return result;
}

}  // namespace ttst::supervisor
