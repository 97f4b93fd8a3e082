// transaction_end.h — the one way a transaction ends without committing: one of
// three helpers throws a TransactionEnd, which run_update catches once, writes into
// the report and follows with the rollback of whatever was created. TRUSTED.
//   refuse()    bad input, found before anything was created    -> exit 2
//   rollback()  the update was tried and failed (or validated)   -> exit 1 (0 when
//               --validate-only passed)
//   internal()  a bug or resource failure of ttst itself         -> exit 3
// An exception of any other type reaching run_update is a bug: internal (exit 3).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "supervisor/report.h"

namespace ttst::supervisor {

struct TransactionEnd {
  Outcome outcome = Outcome::kRolledBack;
  Reason reason = Reason::kInternal;
  std::string message, advice;
  std::optional<Crash> crash;
  std::string detail;
  std::vector<std::string> needs_user_code;
};

[[noreturn]] inline void refuse(Reason reason, std::string message, std::string advice,
                                std::vector<std::string> needs_user_code = {}) {
  throw TransactionEnd{Outcome::kRefused, reason, std::move(message), std::move(advice), std::nullopt, "",
                       std::move(needs_user_code)};
}

[[noreturn]] inline void rollback(Reason reason, std::string message, std::string advice,
                                  std::optional<Crash> crash = std::nullopt, std::string detail = "") {
  throw TransactionEnd{Outcome::kRolledBack, reason, std::move(message), std::move(advice), std::move(crash),
                       std::move(detail), {}};
}

// The outcome is set by run_update: refused while nothing was touched, else rolled
// back.
[[noreturn]] inline void internal(std::string message, std::string advice, std::string detail = "") {
  throw TransactionEnd{Outcome::kRolledBack, Reason::kInternal, std::move(message), std::move(advice),
                       std::nullopt, std::move(detail), {}};
}

}  // namespace ttst::supervisor
