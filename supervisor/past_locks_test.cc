// past_locks_test.cc — the locks of static storage found by their types (a lock
// global, a struct member, array elements, typedefs; none in lock-free types,
// thread-locals or read-only data) and read held or free in a live process (this
// one: its own mutex and rwlock, locked by a thread and let go of).
#include "supervisor/past_locks.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <doctest/doctest.h>

using namespace ttst::supervisor;
using ttst::dwarfmeta::Global;
using ttst::dwarfmeta::Member;
using ttst::dwarfmeta::Program;
using ttst::dwarfmeta::Type;
using ttst::dwarfmeta::TypeId;
using ttst::dwarfmeta::TypeKind;

namespace {

TypeId add(Program& p, TypeKind kind, const std::string& name, uint64_t size, TypeId target = 0,
           uint64_t count = 0, std::vector<Member> members = {}) {
  Type t;
  t.kind = kind, t.name = name, t.size = size, t.target = target, t.count = count, t.members = std::move(members);
  p.types.push_back(std::move(t));
  return static_cast<TypeId>(p.types.size() - 1);
}

Member member(const std::string& name, TypeId type, uint64_t offset) {
  Member m;
  m.name = name, m.type = type, m.offset = offset;
  return m;
}

Global global(const std::string& id, uint64_t addr, TypeId type, bool tls = false, bool readonly = false) {
  Global g;
  g.id = g.name = id, g.addr = addr, g.type = type, g.tls = tls, g.readonly = readonly;
  return g;
}

// glibc's x86-64 pthread_mutex_t and pthread_rwlock_t as DWARF describes them
// (a typedef of an anonymous union whose first member is the layout struct).
struct Model {
  Program p;
  TypeId mutex_t = 0, rwlock_t = 0, intt = 0;
  Model() {
    p.types.push_back(Type{});  // void
    intt = add(p, TypeKind::Base, "int", 4);
    const TypeId ms = add(p, TypeKind::Struct, "__pthread_mutex_s", 40);
    const TypeId mu = add(p, TypeKind::Union, "", 40, 0, 0, {member("__data", ms, 0)});
    mutex_t = add(p, TypeKind::Typedef, "pthread_mutex_t", 0, mu);
    const TypeId rs = add(p, TypeKind::Struct, "__pthread_rwlock_arch_t", 56);
    const TypeId ru = add(p, TypeKind::Union, "", 56, 0, 0, {member("__data", rs, 0)});
    rwlock_t = add(p, TypeKind::Typedef, "pthread_rwlock_t", 0, ru);
  }
};

}  // namespace

TEST_CASE("static_locks: globals, members and array elements of the lock types, by name") {
  Model m;
  Program& p = m.p;
  const TypeId pair = add(p, TypeKind::Struct, "stats", 104, 0, 0,
                          {member("n", m.intt, 0), member("mu", m.mutex_t, 8), member("rw", m.rwlock_t, 48)});
  const TypeId arr = add(p, TypeKind::Array, "", 120, m.mutex_t, 3);
  const TypeId ints = add(p, TypeKind::Array, "", 400, m.intt, 100);
  p.globals = {global("a.c::big", 0x1000, ints),     global("a.c::lock", 0x2000, m.mutex_t),
               global("st", 0x3000, pair),           global("lru", 0x4000, arr),
               global("tl", 0x10, m.mutex_t, true),  global("ro", 0x5000, m.mutex_t, false, true)};
  const std::vector<StaticLock> locks = static_locks(p);
  REQUIRE(locks.size() == 6);
  CHECK((locks[0].name == "a.c::lock" && locks[0].link_addr == 0x2000 && locks[0].kind == LockKind::kMutex));
  CHECK((locks[1].name == "st.mu" && locks[1].link_addr == 0x3008 && locks[1].kind == LockKind::kMutex));
  CHECK((locks[2].name == "st.rw" && locks[2].link_addr == 0x3030 && locks[2].kind == LockKind::kRwLock));
  CHECK((locks[3].name == "lru[0]" && locks[3].link_addr == 0x4000));
  CHECK((locks[5].name == "lru[2]" && locks[5].link_addr == 0x4050));
  CHECK(static_locks(p, 2).size() == 2);  // the limit
}

namespace {
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_free = PTHREAD_MUTEX_INITIALIZER;
pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
}  // namespace

TEST_CASE("held_locks: read in a live process, held by their owner or free") {
  const std::vector<StaticLock> locks = {{"g_mu", reinterpret_cast<uint64_t>(&g_mu), LockKind::kMutex},
                                         {"g_free", reinterpret_cast<uint64_t>(&g_free), LockKind::kMutex},
                                         {"g_rw", reinterpret_cast<uint64_t>(&g_rw), LockKind::kRwLock}};
  const ttst::inject::LoadBias none(0);
  CHECK(held_locks(getpid(), none, locks).empty());
  REQUIRE(pthread_mutex_lock(&g_mu) == 0);
  REQUIRE(pthread_rwlock_rdlock(&g_rw) == 0);
  std::vector<HeldLock> held = held_locks(getpid(), none, locks);
  REQUIRE(held.size() == 2);
  CHECK(held[0].name == "g_mu");
  CHECK(held[0].owner == static_cast<pid_t>(syscall(SYS_gettid)));
  CHECK(describe(held[0]) == "g_mu (a pthread mutex held by thread " + std::to_string(held[0].owner) + ")");
  CHECK((held[1].name == "g_rw" && held[1].readers == 1 && held[1].owner == 0));
  pthread_rwlock_unlock(&g_rw);
  REQUIRE(pthread_rwlock_wrlock(&g_rw) == 0);
  held = held_locks(getpid(), none, locks);
  REQUIRE(held.size() == 2);
  CHECK((held[1].name == "g_rw" && held[1].owner == static_cast<pid_t>(syscall(SYS_gettid))));
  pthread_rwlock_unlock(&g_rw);
  pthread_mutex_unlock(&g_mu);
  CHECK(held_locks(getpid(), none, locks).empty());
  // Memory that cannot be read: skipped.
  const std::vector<StaticLock> nowhere = {{"x", 8, LockKind::kMutex}};
  CHECK(held_locks(getpid(), none, nowhere).empty());
}
