// error.h — the errors of the ptrace engine. TRUSTED (inject/ host side).
// Every failure throws; nothing returns an error code a caller could ignore.
#pragma once

#include <stdexcept>
#include <string>

namespace ttst::inject {

// Any failure of the engine: the message is one line saying what failed.
class InjectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The traced thread exited or was killed while the engine worked on it.
class TraceeDied : public InjectError {
 public:
  using InjectError::InjectError;
};

// A wait ran out of time.
class Timeout : public InjectError {
 public:
  using InjectError::InjectError;
};

// The new program could not be executed in the future process (execve failed
// there: v2, its program interpreter or a library it needs is missing or not
// executable). The new version's fault, not the engine's.
class ExecFailed : public InjectError {
 public:
  ExecFailed(const std::string& what, int error) : InjectError(what), error_(error) {}
  int error() const { return error_; }  // errno of the execve

 private:
  int error_;
};

// Throws InjectError("<what>: <strerror(errno)>").
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace ttst::inject
