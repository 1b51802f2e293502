// Error handling for the whole library: a Status (code + message a user can act on)
// and Result<T> = value or Status. Library code never throws across layers and never
// aborts on bad input; assert() is only for programmer errors.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace nm {

enum class ErrorCode {
  ok = 0,
  invalid_argument,  // caller passed something unusable (bad flag, bad shape)
  invalid_file,      // a model / image / audio file is malformed or hostile
  unsupported,       // well-formed but not handled (unknown architecture or type)
  out_of_memory,
  out_of_range,      // e.g. prompt longer than the context
  io_error,          // open/read/mmap failed
  internal,          // a bug in NanoMind
};

const char* error_code_name(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == ErrorCode::ok; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_file: tensor 'x' ends past the end of the file"
  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::ok;
  std::string message_;
};

inline Status error(ErrorCode code, std::string message) { return Status(code, std::move(message)); }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status ok_status;
    return ok() ? ok_status : std::get<Status>(v_);
  }
  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nm

#define NM_CONCAT_INNER(a, b) a##b
#define NM_CONCAT(a, b) NM_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` (a Status) failed.
#define NM_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::nm::Status nm_status_ = (expr);        \
    if (!nm_status_.ok()) return nm_status_; \
  } while (0)

// NM_ASSIGN_OR_RETURN(auto x, make_x()); declares x from a Result or returns its Status.
#define NM_ASSIGN_OR_RETURN(decl, expr) NM_ASSIGN_OR_RETURN_IMPL(NM_CONCAT(nm_result_, __LINE__), decl, expr)
#define NM_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  decl = std::move(tmp).value()
