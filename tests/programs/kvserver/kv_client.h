// kv_client — a blocking TCP client for kvserver, used by the integration tests
// and benchmarks to drive a server before, during and after a live update.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace ttst::test {

// Starts `binary PORT=0` with stdout piped, reads the "PORT n" line it prints.
struct KvServer {
  pid_t pid = -1;
  int port = 0;
  static KvServer start(const std::string& binary);
  void kill_and_wait();
};

class KvClient {
 public:
  explicit KvClient(int port);  // throws std::runtime_error when it cannot connect
  ~KvClient();
  KvClient(const KvClient&) = delete;
  KvClient& operator=(const KvClient&) = delete;

  // Sends one command line, returns the reply line without its newline.
  std::string command(const std::string& line);
  std::string set(const std::string& key, const std::string& value) { return command("SET " + key + " " + value); }
  std::string get(const std::string& key) { return command("GET " + key); }
  // Pipelining: send raw bytes (whole lines), then read replies one by one.
  void send(const std::string& bytes);
  std::string reply();
  // A reply not begun within `bound` throws (a server that never answers fails a
  // test at once instead of hanging it).
  void set_timeout(std::chrono::milliseconds bound);

 private:
  int fd_ = -1;
  std::string pending_;
};

}  // namespace ttst::test
