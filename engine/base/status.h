// Status and Result<T>: how the engine reports failure. Exceptions never cross a module
// boundary; every fallible engine function returns one of these.
#pragma once

#include <cerrno>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace rw {

enum class Code {
  kOk = 0,
  kNotFound,
  kCorruption,
  kIOError,
  kInvalidArgument,
  kNotSupported,
  kAborted,
  kLocked,
  kAlreadyExists,
  kNoSpace,
  kDenied,  // the system refused a change: read-only file system, permission denied
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotSupported(std::string m) { return {Code::kNotSupported, std::move(m)}; }
  static Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
  static Status Locked(std::string m) { return {Code::kLocked, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: pack 3fa1…: trailer length 9000 exceeds file size 812"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context + ": "`.
  Status WithContext(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Maps an errno value to a Status: ENOENT -> NotFound, ENOSPC/EDQUOT -> NoSpace, EEXIST ->
// AlreadyExists, EROFS/EACCES/EPERM -> Denied, others -> IOError. The message is "<what>: <strerror>".
Status ErrnoStatus(std::string_view what, int err);

// What an exception says, for a message: without the bracketed id some libraries start it with
// ("[json.exception.parse_error.101] parse error at line 2, …" -> "parse error at line 2, …").
std::string ExceptionText(const std::exception& e);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}   // NOLINT: REQUIRES !status.ok()

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

#define RW_CONCAT_INNER(a, b) a##b
#define RW_CONCAT(a, b) RW_CONCAT_INNER(a, b)

#define RW_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::rw::Status rw_status_ = (expr);     \
    if (!rw_status_.ok()) return rw_status_;  \
  } while (0)

#define RW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define RW_ASSIGN_OR_RETURN(lhs, expr) \
  RW_ASSIGN_OR_RETURN_IMPL(RW_CONCAT(rw_result_, __LINE__), lhs, expr)

}  // namespace rw
