// traffic_client — see traffic_client.h.
#include "supervisor/bench/traffic_client.h"

#include <chrono>
#include <exception>

namespace ttst::bench {

double now_ms() {
  static const auto epoch = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - epoch).count();
}

const char* traffic_name(Traffic t) { return t == Traffic::kRead ? "read" : t == Traffic::kWrite ? "write" : "mixed"; }

bool parse_traffic(const std::string& text, Traffic* out) {
  for (Traffic t : {Traffic::kRead, Traffic::kWrite, Traffic::kMixed})
    if (text == traffic_name(t)) {
      *out = t;
      return true;
    }
  return false;
}

TrafficClient::TrafficClient(int port, Traffic traffic, long accounts)
    : client_(port), traffic_(traffic), accounts_(accounts > 0 ? accounts : 1), start_ms_(now_ms()) {
  log_.reserve(1 << 20);
  thread_ = std::thread([this] { loop(); });
}

void TrafficClient::stop() {
  done_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string TrafficClient::next_request(long i) const {
  const bool write = traffic_ == Traffic::kWrite || (traffic_ == Traffic::kMixed && i % 10 == 9);
  if (!write) return "BAL acct1";
  // A stride coprime with most sizes scatters the accounts over the heap's pages.
  return "DEPOSIT acct" + std::to_string((i * 7919) % accounts_) + " 1";
}

void TrafficClient::loop() {
  for (long i = 0; !done_; ++i) {
    const std::string request = next_request(i);
    const double sent = now_ms();
    std::string reply;
    try {
      reply = client_.command(request);
    } catch (const std::exception&) {  // the connection lost: counted, the client ends
      ++bad_;
      return;
    }
    log_.push_back({sent, now_ms()});
    if (reply.rfind("BALANCE ", 0) != 0) ++bad_;
    ++count_;
  }
}

}  // namespace ttst::bench
