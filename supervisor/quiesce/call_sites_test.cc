// The call-site decoder of the quiescence rule (call_sites.h):
//  - every x86-64 call encoding, hand-assembled inside a small function body, is a
//    call when `ret` is the address right after it — e8 rel32; ff /2 on a register
//    (with and without REX), on memory through [reg], [reg+disp8], [reg+disp32],
//    SIB with and without displacement, rip-relative; with REX, notrack (3e), 66,
//    67, bnd and segment prefixes — including the 4-, 5- and 7-byte ff /2 forms the
//    backwards guess of the past missed;
//  - the bytes before `ret` looking like a call (an e8 or ff /2 inside an immediate)
//    are not one; an address inside an instruction, or a function's entry, is not a
//    return address; undecodable or missing bytes are "unknown", never "not a call";
//  - real compiled programs (gcc -O0/-O2, PIE and not, clang -O2, and qprog built by
//    ttst-cc): at every instruction boundary and inside every instruction of every
//    function, Capstone's forward decoding agrees with GNU objdump's disassembly.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "supervisor/quiesce/call_sites.h"

using namespace ttst::quiesce;

namespace {

std::vector<uint8_t> hex(const std::string& s) {
  std::vector<uint8_t> out;
  std::string digits;
  for (char c : s)
    if (c != ' ') digits += c;
  REQUIRE(digits.size() % 2 == 0);
  for (size_t i = 0; i < digits.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  return out;
}

constexpr uint64_t kEntry = 0x401000;
const std::string kPrologue = "f3 0f 1e fa 55 48 89 e5 48 83 ec 10";  // endbr64; push rbp; mov rbp,rsp; sub rsp,16
const std::string kEpilogue = "89 45 fc c9 c3";                       // mov [rbp-4],eax; leave; ret

// A function: prologue, `insn`, epilogue. Returns the verdict at the address right
// after `insn`.
CallCheck after(const std::string& insn) {
  std::vector<uint8_t> code = hex(kPrologue + insn + kEpilogue);
  uint64_t ret = kEntry + hex(kPrologue).size() + hex(insn).size();
  return call_ends_at(code, kEntry, ret);
}

struct Encoding {
  const char* name;
  const char* bytes;
};

const Encoding kCalls[] = {
    {"e8 rel32", "e8 10 00 00 00"},
    {"bnd e8 rel32", "f2 e8 10 00 00 00"},
    {"ff /2 rax", "ff d0"},
    {"ff /2 r11 (REX.B)", "41 ff d3"},
    {"ff /2 rax (REX.W)", "48 ff d0"},
    {"ff /2 [rax]", "ff 10"},
    {"ff /2 [r15]", "41 ff 17"},
    {"ff /2 [rax+disp8]", "ff 50 08"},
    {"ff /2 [rbp+0] (disp8 0)", "ff 55 00"},
    {"ff /2 [r14+disp8] (4 bytes)", "41 ff 56 08"},
    {"ff /2 [rax+disp32] (6 bytes)", "ff 90 00 01 00 00"},
    {"ff /2 [r12+disp32] (7 bytes)", "41 ff 94 24 00 01 00 00"},
    {"ff /2 SIB [rsp]", "ff 14 24"},
    {"ff /2 SIB [rbx+rsi*8]", "ff 14 f3"},
    {"ff /2 SIB [rsp+disp8] (4 bytes)", "ff 54 24 08"},
    {"ff /2 SIB [rbx+rax*8+disp8] (4 bytes)", "ff 54 c3 08"},
    {"ff /2 SIB [rbp+rsi*8+0] (4 bytes)", "ff 54 f5 00"},
    {"ff /2 SIB [r12+disp8] (5 bytes)", "41 ff 54 24 08"},
    {"ff /2 SIB [rbx+r8*8+disp8] (5 bytes, REX.X)", "42 ff 54 c3 08"},
    {"ff /2 SIB [rsp+disp32] (7 bytes)", "ff 94 24 00 01 00 00"},
    {"ff /2 SIB [index*8+disp32], no base (7 bytes)", "ff 14 c5 00 10 00 00"},
    {"ff /2 SIB [rbp+r13+disp32] (8 bytes)", "42 ff 94 2d 40 01 00 00"},
    {"ff /2 [rip+disp32] (6 bytes)", "ff 15 00 01 00 00"},
    {"notrack ff /2 rax", "3e ff d0"},
    {"notrack ff /2 [rip+disp32] (7 bytes)", "3e ff 15 00 01 00 00"},
    {"notrack ff /2 SIB [rbx+rax*8+disp8]", "3e ff 54 c3 08"},
    {"66 ff /2 rax", "66 ff d0"},
    {"67 ff /2 [eax]", "67 ff 10"},
    {"cs ff /2 [rip+disp32]", "2e ff 15 00 01 00 00"},
};

// The bytes right before `ret` match a call pattern, but belong to another instruction.
const Encoding kLookalikes[] = {
    {"imm32 ending e8 xx xx xx xx", "48 b8 00 00 00 e8 10 00 00 00"},        // movabs rax, imm64
    {"imm32 ending ff d0", "b8 00 00 ff d0"},                                // mov eax, 0xd0ff0000
    {"imm32 ending ff 15 + 4 bytes", "48 b8 00 00 ff 15 00 01 00 00"},       // movabs: ff 15 at -6
    {"disp32 ending ff 54 24 08", "8b 80 ff 54 24 08"},                      // mov eax, [rax+0x82454ff]
    {"jmp rax (ff /4)", "ff e0"},
    {"push [rax] (ff /6)", "ff 30"},
    {"far call (ff /3)", "ff 18"},
    {"jmp rel32", "e9 10 00 00 00"},
    {"ret", "c3"},
};

}  // namespace

TEST_CASE("every call encoding is a call at the address after it") {
  for (const Encoding& e : kCalls) {
    CAPTURE(e.name);
    CHECK(after(e.bytes) == CallCheck::kCall);
    // Inside the call (any byte but its first) is never a return address.
    size_t n = hex(e.bytes).size();
    std::vector<uint8_t> code = hex(kPrologue + e.bytes + kEpilogue);
    uint64_t start = kEntry + hex(kPrologue).size();
    for (size_t k = 1; k < n; k++) CHECK(call_ends_at(code, kEntry, start + k) == CallCheck::kNotCall);
  }
}

TEST_CASE("bytes that look like a call before the address are not one") {
  for (const Encoding& e : kLookalikes) {
    CAPTURE(e.name);
    CHECK(after(e.bytes) == CallCheck::kNotCall);
  }
}

TEST_CASE("entries, ends, undecodable and missing bytes") {
  std::vector<uint8_t> code = hex(kPrologue + "e8 10 00 00 00" + kEpilogue);
  CHECK(call_ends_at(code, kEntry, kEntry) == CallCheck::kNotCall);  // the entry itself
  CHECK(call_ends_at(code, kEntry, kEntry + code.size()) == CallCheck::kNotCall);  // after `ret`
  // A call that is the function's last instruction (a call to a noreturn function).
  std::vector<uint8_t> tail = hex(kPrologue + "e8 10 00 00 00");
  CHECK(call_ends_at(tail, kEntry, kEntry + tail.size()) == CallCheck::kCall);
  // 06 (push es) does not exist in 64-bit mode: whatever follows is unknown.
  std::vector<uint8_t> bad = hex(kPrologue + "06 e8 10 00 00 00" + kEpilogue);
  CHECK(call_ends_at(bad, kEntry, kEntry + hex(kPrologue).size() + 6) == CallCheck::kUnknown);
  // The bytes end before `ret` (an unreadable page): unknown, not "no call".
  std::vector<uint8_t> cut = hex(kPrologue + "e8 10 00");
  CHECK(call_ends_at(cut, kEntry, kEntry + hex(kPrologue).size() + 5) == CallCheck::kUnknown);
  CHECK(call_ends_at({}, kEntry, kEntry + 5) == CallCheck::kUnknown);
}

TEST_CASE("the instruction at rip: syscall or not") {
  CHECK(is_syscall(hex("0f 05")));
  CHECK(is_syscall(hex("0f 05 c3")));
  CHECK_FALSE(is_syscall(hex("0f 34")));  // sysenter
  CHECK_FALSE(is_syscall(hex("cd 80")));  // int 0x80
  CHECK_FALSE(is_syscall(hex("0f")));
  CHECK_FALSE(is_syscall({}));
}

namespace {

struct Insn {
  uint64_t addr;
  std::vector<uint8_t> bytes;
  bool call;  // objdump says: call (any prefixes), not lcall
};

// The functions of .text in `objdump -d --insn-width=16` output, by name.
std::map<std::string, std::vector<Insn>> read_disassembly(const std::string& file) {
  std::ifstream in(file);
  REQUIRE_MESSAGE(in, "cannot read " << file);
  static const std::regex header(R"(^([0-9a-f]+) <(.+)>:$)");
  static const std::regex line(R"(^\s*([0-9a-f]+):\t([0-9a-f ]+)\t(.*)$)");
  std::map<std::string, std::vector<Insn>> out;
  std::string section, fn, l;
  while (std::getline(in, l)) {
    std::smatch m;
    if (l.rfind("Disassembly of section ", 0) == 0) section = l.substr(23, l.size() - 24);
    else if (std::regex_match(l, m, header)) fn = m[2];
    else if (section == ".text" && std::regex_match(l, m, line)) {
      Insn i{std::stoull(m[1], nullptr, 16), hex(m[2]), false};
      std::istringstream words(m[3].str());
      for (std::string w; words >> w && (w == "call" || w == "callq" || w == "notrack" || w == "bnd" ||
                                        w.rfind("rex", 0) == 0 || w == "data16" || w == "addr32" || w == "cs" ||
                                        w == "ds");)
        i.call = i.call || w == "call" || w == "callq";
      out[fn].push_back(std::move(i));
    }
  }
  return out;
}

void agrees_with_objdump(const std::string& file) {
  CAPTURE(file);
  auto functions = read_disassembly(file);
  REQUIRE(functions.size() > 5);
  size_t calls = 0, checked = 0;
  for (auto& [name, insns] : functions) {
    CAPTURE(name);
    std::vector<uint8_t> code;
    uint64_t entry = insns.front().addr;
    for (const Insn& i : insns) {
      REQUIRE(i.addr == entry + code.size());  // objdump printed every byte
      code.insert(code.end(), i.bytes.begin(), i.bytes.end());
    }
    for (const Insn& i : insns) {
      for (size_t k = 1; k < i.bytes.size(); k++)  // inside the instruction
        CHECK(call_ends_at(code, entry, i.addr + k) == CallCheck::kNotCall);
      CallCheck want = i.call ? CallCheck::kCall : CallCheck::kNotCall;
      CallCheck got = call_ends_at(code, entry, i.addr + i.bytes.size());
      if (got != want) CHECK_MESSAGE(false, "at 0x" << std::hex << i.addr << ": " << call_check_name(got));
      calls += i.call;
      checked++;
    }
  }
  MESSAGE(file << ": " << checked << " instructions, " << calls << " calls");
  CHECK(calls > 10);
}

}  // namespace

TEST_CASE("real compiled programs: Capstone's forward decoding agrees with objdump everywhere") {
  for (const char* v : {"gcc_O2_pie", "gcc_O2_nopie", "gcc_O0", "clang_O2"})
    agrees_with_objdump(std::string("supervisor/quiesce/tests/call_forms_") + v + ".dis");
  agrees_with_objdump("supervisor/quiesce/tests/qprog.dis");
}

TEST_CASE("the call forms the backwards guess missed occur in real code") {
  // ff /2 with SIB and a displacement (4, 5 and 8 bytes here): what gcc and clang emit
  // for calls through arrays of function pointers on the stack and in structs.
  std::set<size_t> lengths;
  for (const char* v : {"gcc_O2_pie", "clang_O2"})
    for (auto& [name, insns] : read_disassembly(std::string("supervisor/quiesce/tests/call_forms_") + v + ".dis"))
      for (const Insn& i : insns)
        if (i.call && i.bytes.size() >= 2 && (i.bytes[0] == 0xff || i.bytes[1] == 0xff)) lengths.insert(i.bytes.size());
  CHECK(lengths.count(4) == 1);
  CHECK(lengths.count(5) == 1);
  CHECK(lengths.count(8) == 1);
}

TEST_CASE("a direct call's target; none for an indirect one") {
  // 0x1000: push rbp; call 0x1100 (e8 rel32); call *%rax (ff d0); ret
  const uint8_t code[] = {0x55, 0xe8, 0xfa, 0x00, 0x00, 0x00, 0xff, 0xd0, 0xc3};
  uint64_t target = 1;
  CHECK(call_ends_at(code, 0x1000, 0x1006, &target) == CallCheck::kCall);
  CHECK(target == 0x1100);
  CHECK(call_ends_at(code, 0x1000, 0x1008, &target) == CallCheck::kCall);
  CHECK(target == 0);
  target = 1;
  CHECK(call_ends_at(code, 0x1000, 0x1001, &target) == CallCheck::kNotCall);
  CHECK(target == 0);
}
