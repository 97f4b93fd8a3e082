// bank_client — starting bankserver (bankserver.c) with its accounts preloaded, for
// its tests and for supervisor/bench/update_bench; the line client is kvserver's
// (kv_client.h), the protocol being one command per line with one reply line.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace ttst::test {

struct BankServer {
  pid_t pid = -1;
  int port = 0;
  // Starts `binary 0 accounts` and reads the "PORT n" line it prints once its
  // accounts are loaded (at most `bound`); throws std::runtime_error otherwise.
  static BankServer start(const std::string& binary, long accounts,
                          std::chrono::milliseconds bound = std::chrono::seconds(120));
  void kill_and_wait();
};

}  // namespace ttst::test
