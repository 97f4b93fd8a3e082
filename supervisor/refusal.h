// refusal.h — an update request refused before the running program P was touched:
// bad input (exit 2) whose message says what happened and whose advice says what to
// do. Thrown only for real bad input (a wrong pid, a v2 that is not a ttst program,
// an object that needs user transfer code); a bug is never a Refusal. TRUSTED.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ttst::supervisor {

class Refusal : public std::runtime_error {
 public:
  Refusal(const std::string& message, const std::string& advice, std::vector<std::string> needs_user_code = {})
      : std::runtime_error(message), advice_(advice), needs_user_code_(std::move(needs_user_code)) {}
  const std::string& advice() const { return advice_; }
  // The objects of the transfer plan that need user transfer code (reason
  // needs_user_code); empty for any other refusal (reason bad_input).
  const std::vector<std::string>& needs_user_code() const { return needs_user_code_; }

 private:
  std::string advice_;
  std::vector<std::string> needs_user_code_;
};

}  // namespace ttst::supervisor
