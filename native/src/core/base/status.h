// Status and Result<T>: how every fallible call in the core reports failure.
// Boundary: value types only. The core is built without exceptions and nothing may throw across the
// N-API boundary, so errors travel as values: an errno-style code plus a message for humans.
#pragma once

#include <errno.h>

#include <optional>
#include <string>
#include <utility>

#include "errno_text.h"

namespace sf {

struct Status {
  int code = 0;         // 0 = success; otherwise an errno value (EINVAL, ENOMEM, the failing syscall's errno)
  std::string message;  // says what failed and, where it helps, what to do

  bool ok() const { return code == 0; }

  static Status Ok() { return {}; }
  static Status Error(int code, std::string message) {
    // A zero code would read as success; callers that pass 0 by mistake still get a failure.
    return Status{code != 0 ? code : EINVAL, std::move(message)};
  }
  // "what: strerror (ENAME)" for a failed system call.
  static Status FromErrno(const std::string& what, int err) { return Error(err, ErrnoText(what, err)); }
};

// Either a T or a failed Status. Deliberately small: enough to return values without exceptions.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor): `return value;`
  Result(Status status) : status_(std::move(status)) {  // NOLINT: `return Status::Error(...);`
    if (status_.ok()) status_ = Status::Error(EINVAL, "internal error: Result built from a success status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace sf
