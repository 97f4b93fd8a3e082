// thread_pairs.cc — see thread_pairs.h.
#include "supervisor/thread_pairs.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "stfw/stfw_task.h"
#include "supervisor/past_frames.h"
#include "supervisor/proc_stat.h"

namespace ttst::supervisor {
namespace {

// Field 22 of /proc/PID/task/TID/stat (after the ')' ending the command): starttime.
uint64_t start_time(pid_t pid, pid_t tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<std::string> f = stat_fields(all);
  return f.size() > 22 - 3 ? std::strtoull(f[22 - 3].c_str(), nullptr, 10) : 0;
}

bool created_before(const ThreadInfo& a, const ThreadInfo& b) {
  if (a.start == "main" || b.start == "main") return a.start == "main" && b.start != "main";
  return a.started != b.started ? a.started < b.started : a.tid < b.tid;
}

}  // namespace

std::vector<ThreadInfo> describe_threads(pid_t pid, const std::deque<inject::Task*>& threads,
                                         const quiesce::Verdict& verdict) {
  std::vector<ThreadInfo> out;
  for (size_t i = 0; i < threads.size() && i < verdict.threads.size(); ++i) {
    ThreadInfo t;
    t.tid = threads[i]->tid();
    t.start = verdict.threads[i].start;
    t.where = verdict.threads[i].where;
    t.regs = threads[i]->get_regs();
    t.thread_pointer = t.regs.fs_base;
    t.started = start_time(pid, t.tid);
    out.push_back(t);
  }
  std::stable_sort(out.begin(), out.end(), created_before);
  return out;
}

ThreadPairing pair_threads(std::vector<ThreadInfo> past, std::vector<ThreadInfo> future) {
  ThreadPairing p;
  std::stable_sort(past.begin(), past.end(), created_before);
  std::stable_sort(future.begin(), future.end(), created_before);
  p.past = std::move(past), p.future = std::move(future);
  std::map<std::string, std::vector<size_t>> of_kind;  // future threads by start function, in creation order
  for (size_t j = 0; j < p.future.size(); ++j) of_kind[p.future[j].start].push_back(j);
  std::map<std::string, size_t> taken;
  std::vector<bool> paired(p.future.size(), false);
  for (size_t i = 0; i < p.past.size(); ++i) {
    std::vector<size_t>& kind = of_kind[p.past[i].start];
    size_t& k = taken[p.past[i].start];
    if (k < kind.size()) {
      p.pairs.emplace_back(i, kind[k]);
      paired[kind[k++]] = true;
    } else {
      p.dropped.push_back(i);
    }
  }
  for (size_t j = 0; j < p.future.size(); ++j)
    if (!paired[j]) p.added.push_back(j);
  return p;
}

std::string thread_name(const ThreadInfo& t) {
  return "thread " + std::to_string(t.tid) + " (" + (t.start.empty() ? "start function unknown" : t.start) + ")" +
         (t.where.empty() ? "" : " " + t.where);
}

std::vector<uint8_t> threads_input(const ThreadPairing& p, bool backward, pid_t past, pid_t future) {
  std::vector<uint64_t> words;
  std::vector<uint8_t> frames;
  for (const auto& [i, j] : p.pairs) {
    if (p.past[i].start == "main") continue;  // the main threads': TTST_STFW_ARG_PEER_TP and the first frames block
    const ThreadInfo &old = p.past[i], &now = p.future[j];
    words.push_back(backward ? now.thread_pointer : old.thread_pointer);
    words.push_back(backward ? old.thread_pointer : now.thread_pointer);
    const StoppedThread in_past{past, old.regs}, in_future{future, now.regs};
    const std::vector<uint8_t> block = backward ? frames_input(in_future, in_past) : frames_input(in_past, in_future);
    frames.insert(frames.end(), block.begin(), block.end());
  }
  ttst_stfw_threads_header h{TTST_STFW_THREADS_MAGIC, words.size() / 2};
  std::vector<uint8_t> out(sizeof h + words.size() * 8);
  std::copy_n(reinterpret_cast<const uint8_t*>(&h), sizeof h, out.begin());
  if (!words.empty()) std::copy_n(reinterpret_cast<const uint8_t*>(words.data()), words.size() * 8, out.begin() + sizeof h);
  out.insert(out.end(), frames.begin(), frames.end());
  return out;
}

}  // namespace ttst::supervisor
