// past_locks.cc — see past_locks.h.
#include "supervisor/past_locks.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "inject/memory.h"

namespace ttst::supervisor {
namespace {

using dwarfmeta::Program;
using dwarfmeta::TypeId;
using dwarfmeta::TypeKind;

constexpr uint64_t kMutexSize = 40, kRwLockSize = 56;

// The lock a type is (glibc's unions: the first member names the layout), if any.
bool lock_kind(const Program& p, TypeId id, LockKind& kind) {
  const dwarfmeta::Type& t = p.type(p.strip(id));
  if (t.kind != TypeKind::Union || t.members.empty()) return false;
  const dwarfmeta::Type& data = p.type(p.strip(t.members[0].type));
  if (data.kind != TypeKind::Struct) return false;
  if (data.name == "__pthread_mutex_s" && t.size == kMutexSize) return kind = LockKind::kMutex, true;
  if (data.name == "__pthread_rwlock_arch_t" && t.size == kRwLockSize) return kind = LockKind::kRwLock, true;
  return false;
}

// The walk of one global's type down to its locks, each type's "holds a lock"
// answer kept so that large lock-free arrays and structs are passed at once.
class LockFinder {
 public:
  LockFinder(const Program& p, size_t limit, std::vector<StaticLock>& out) : p_(p), limit_(limit), out_(out) {}

  void find(TypeId id, uint64_t addr, const std::string& name, int depth) {
    if (out_.size() >= limit_ || depth > 12 || !holds_lock(id, 0)) return;
    LockKind kind;
    if (lock_kind(p_, id, kind)) return out_.push_back({name, addr, kind});
    const dwarfmeta::Type& t = p_.type(p_.strip(id));
    if (t.kind == TypeKind::Array && t.count != dwarfmeta::kFlexible) {
      const uint64_t stride = p_.type(p_.strip(t.target)).size;
      if (stride == 0) return;
      for (uint64_t i = 0; i < t.count && out_.size() < limit_; ++i)
        find(t.target, addr + i * stride, name + "[" + std::to_string(i) + "]", depth + 1);
      return;
    }
    if (t.kind != TypeKind::Struct && t.kind != TypeKind::Union) return;
    for (const dwarfmeta::Member& m : t.members)
      if (!m.is_bitfield()) find(m.type, addr + m.offset, m.name.empty() ? name : name + "." + m.name, depth + 1);
  }

 private:
  bool holds_lock(TypeId id, int depth) {
    id = p_.strip(id);
    if (auto it = memo_.find(id); it != memo_.end()) return it->second;
    if (depth > 12) return false;
    LockKind kind;
    bool holds = lock_kind(p_, id, kind);
    const dwarfmeta::Type& t = p_.type(id);
    if (!holds && t.kind == TypeKind::Array && t.count != 0 && t.count != dwarfmeta::kFlexible)
      holds = holds_lock(t.target, depth + 1);
    if (!holds && (t.kind == TypeKind::Struct || t.kind == TypeKind::Union))
      for (const dwarfmeta::Member& m : t.members)
        if (!m.is_bitfield() && (holds = holds_lock(m.type, depth + 1))) break;
    memo_[id] = holds;
    return holds;
  }

  const Program& p_;
  size_t limit_;
  std::vector<StaticLock>& out_;
  std::unordered_map<TypeId, bool> memo_;
};

uint32_t word(const uint8_t* at) {
  uint32_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

}  // namespace

std::vector<StaticLock> static_locks(const Program& program, size_t limit) {
  std::vector<StaticLock> out;
  LockFinder finder(program, limit, out);
  for (const dwarfmeta::Global& g : program.globals)
    if (!g.tls && !g.readonly && g.addr != 0) finder.find(g.type, g.addr, g.id, 0);
  return out;
}

std::vector<HeldLock> held_locks(pid_t pid, inject::LoadBias bias, std::span<const StaticLock> locks) {
  std::vector<HeldLock> held;
  std::vector<uint8_t> bytes;
  // Runs of locks close together (an array, a struct's members) read in one call.
  for (size_t i = 0; i < locks.size();) {
    const uint64_t lo = locks[i].link_addr;
    uint64_t hi = lo + kRwLockSize;
    size_t j = i + 1;
    while (j < locks.size() && locks[j].link_addr >= lo && locks[j].link_addr < hi + 4096 &&
           locks[j].link_addr + kRwLockSize - lo <= (1u << 20))
      hi = std::max(hi, locks[j++].link_addr + kRwLockSize);
    bytes.resize(hi - lo);
    const size_t got = inject::try_read_memory(pid, (inject::LinkAddr(lo) + bias).value(), bytes);
    for (; i < j; ++i) {
      const StaticLock& l = locks[i];
      const uint64_t off = l.link_addr - lo, size = l.kind == LockKind::kMutex ? kMutexSize : kRwLockSize;
      if (off + size > got) continue;
      const uint8_t* at = bytes.data() + off;
      if (l.kind == LockKind::kMutex && word(at) != 0)  // __lock; __owner at 8
        held.push_back({l.name, l.kind, static_cast<pid_t>(word(at + 8)), 0});
      if (l.kind == LockKind::kRwLock && ((word(at) >> 3) != 0 || word(at + 24) != 0))  // __readers; __cur_writer
        held.push_back({l.name, l.kind, static_cast<pid_t>(word(at + 24)), word(at) >> 3});
    }
  }
  return held;
}

std::string describe(const HeldLock& lock) {
  if (lock.kind == LockKind::kMutex)
    return lock.name + " (a pthread mutex held by thread " + std::to_string(lock.owner) + ")";
  return lock.name + " (a pthread rwlock held by " + std::to_string(lock.readers) + " reader(s)" +
         (lock.owner ? ", writer thread " + std::to_string(lock.owner) : std::string()) + ")";
}

}  // namespace ttst::supervisor
