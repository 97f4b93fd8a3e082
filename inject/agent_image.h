// agent_image.h — the freestanding agent ELF, parsed with libelf: loadable
// segments, R_X86_64_RELATIVE relocations, entry point and symbols (for crash
// reports). TRUSTED: the host parses, relocates and maps it; the code it describes
// is untrusted and runs only inside R or F.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ttst::inject {

class AgentImage {
 public:
  // The agent built into this binary (inject/agent, embedded at build time).
  static const AgentImage& embedded();
  // Parses a static-PIE ELF; throws InjectError for anything it cannot load
  // (not ET_DYN x86-64, relocations other than RELATIVE, no entry symbol...).
  static AgentImage parse(std::span<const unsigned char> elf);

  struct ProtRun {
    uint64_t offset, size;  // page-aligned, relative to the load base
    int prot;               // PROT_* from the segments' flags
  };

  uint64_t span() const { return span_; }  // bytes, page-aligned
  uint64_t entry() const { return entry_; }
  // The image relocated for load address `base` (span() bytes, bss zeroed).
  std::vector<uint8_t> relocated(uint64_t base) const;
  // Page protections of the image (every page covered, in order).
  const std::vector<ProtRun>& protections() const { return prot_; }
  // "task_null_deref+0x12" for an offset from the load base; "" when none.
  std::string symbolize(uint64_t offset) const;

  // The agent's task table (the AGENT_TASK entries linked into it, tasks.h).
  struct Task {
    uint32_t id;
    std::string function;  // "task_stfw_forward+0x0"
  };
  const std::vector<Task>& tasks() const { return tasks_; }

 private:
  struct Symbol {
    uint64_t value, size;
    std::string name;
  };
  std::vector<uint8_t> image_;  // unrelocated, span_ bytes
  std::vector<std::pair<uint64_t, int64_t>> relative_;  // (offset, addend)
  std::vector<ProtRun> prot_;
  static constexpr const char* kTaskSection = "ttst_agent_tasks";
  void read_task_table(uint64_t at, uint64_t size);
  std::vector<Symbol> symbols_;
  std::vector<Task> tasks_;
  uint64_t span_ = 0, entry_ = 0;
};

}  // namespace ttst::inject
