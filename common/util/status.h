// Status and Result<T>: how every mailrelay library reports failure. No exceptions cross a
// module, callback or process boundary; a function that can fail returns one of these.
// Pure value types, usable on any thread.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace mailrelay::util {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad input from a peer, a file or the command line
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnavailable,  // transient: retry later
  kResourceExhausted,
  kFailedPrecondition,
  kDataLoss,  // corruption detected
  kInternal,  // our own invariant broke
  kTimeout,
  kIoError,
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

  // Prefixes the message with context ("file.ini:12: " + message), keeping the code.
  Status WithContext(const std::string& context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
inline Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
inline Status PermissionDenied(std::string m) { return Status(Code::kPermissionDenied, std::move(m)); }
inline Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
inline Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
inline Status IoError(std::string m) { return Status(Code::kIoError, std::move(m)); }
inline Status DataLoss(std::string m) { return Status(Code::kDataLoss, std::move(m)); }
inline Status FailedPrecondition(std::string m) {
  return Status(Code::kFailedPrecondition, std::move(m));
}
inline Status ResourceExhausted(std::string m) {
  return Status(Code::kResourceExhausted, std::move(m));
}
// errno-based I/O error: "what: strerror(errno)".
Status ErrnoStatus(const std::string& what, int err);

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace mailrelay::util

// Early return on failure, for functions returning Status or Result<U>.
#define MR_RETURN_IF_ERROR(expr)               \
  do {                                         \
    ::mailrelay::util::Status mr_st_ = (expr); \
    if (!mr_st_.ok()) return mr_st_;           \
  } while (0)

#define MR_CONCAT_INNER_(a, b) a##b
#define MR_CONCAT_(a, b) MR_CONCAT_INNER_(a, b)
#define MR_ASSIGN_OR_RETURN(lhs, expr) MR_ASSIGN_OR_RETURN_IMPL_(MR_CONCAT_(mr_res_, __LINE__), lhs, expr)
#define MR_ASSIGN_OR_RETURN_IMPL_(res, lhs, expr) \
  auto res = (expr);                              \
  if (!res.ok()) return res.status();             \
  lhs = std::move(res).value()
