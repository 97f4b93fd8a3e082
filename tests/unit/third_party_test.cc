// Each Debian-packaged library wrapped in third_party/ links and does its job.
#include <doctest/doctest.h>

#include <capstone/capstone.h>
#include <gelf.h>
#include <libdwarf/libdwarf.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>
#include <cstdlib>
#include <string>

TEST_CASE("capstone decodes the x86-64 syscall instruction") {
  csh handle;
  REQUIRE(cs_open(CS_ARCH_X86, CS_MODE_64, &handle) == CS_ERR_OK);
  const uint8_t code[] = {0x0f, 0x05};
  cs_insn* insn = nullptr;
  size_t n = cs_disasm(handle, code, sizeof code, 0x1000, 1, &insn);
  REQUIRE(n == 1);
  CHECK(std::string(insn[0].mnemonic) == "syscall");
  CHECK(insn[0].size == 2);
  cs_free(insn, n);
  cs_close(&handle);
}

TEST_CASE("libelf reads this test binary as x86-64 ELF") {
  REQUIRE(elf_version(EV_CURRENT) != EV_NONE);
  FILE* f = fopen("/proc/self/exe", "rb");
  REQUIRE(f != nullptr);
  Elf* elf = elf_begin(fileno(f), ELF_C_READ, nullptr);
  REQUIRE(elf != nullptr);
  GElf_Ehdr ehdr;
  REQUIRE(gelf_getehdr(elf, &ehdr) != nullptr);
  CHECK(ehdr.e_machine == EM_X86_64);
  elf_end(elf);
  fclose(f);
}

TEST_CASE("libdwarf opens ELF and refuses what is not ELF") {
  char path[] = "/tmp/ttst-notelf-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "not an ELF file at all\n", 23) == 23);
  Dwarf_Debug dbg = nullptr;
  Dwarf_Error err = nullptr;
  int rc = dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, nullptr, nullptr, &dbg, &err);
  CHECK(rc != DW_DLV_OK);
  if (rc == DW_DLV_ERROR) dwarf_dealloc(nullptr, err, DW_DLA_ERROR);
  close(fd);
  unlink(path);
}

TEST_CASE("spdlog formats through external fmt") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log("t", sink);
  log.set_pattern("%v");
  log.info("pid {} phase {}", 42, "diff");
  CHECK(out.str() == "pid 42 phase diff\n");
}

TEST_CASE("CLI11 parses options and nlohmann-json round-trips") {
  CLI::App app;
  int pid = 0;
  app.add_option("--pid", pid);
  const char* argv[] = {"prog", "--pid", "17"};
  app.parse(3, argv);
  CHECK(pid == 17);
  auto j = nlohmann::json::parse(R"({"outcome":"committed","phases":[1,2]})");
  CHECK(j["outcome"] == "committed");
  CHECK(j["phases"].size() == 2);
}
