// SMTP protocol errors and the one table mapping each to the reply the server sends (code,
// enhanced status code, text), plus ParseResult<T>, what every parser here returns.
// Pure values, usable on any thread. Nothing here fails; unknown enum values cannot occur.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/smtp/reply.h"
#include "common/util/status.h"

namespace mailrelay::smtp {

// Why a command, a line or a message is refused. The reply for each lives in one table in
// errors.cc; codes and texts follow Postfix where the RFCs leave the choice open.
enum class Error : uint8_t {
  kLineTooLong,           // 500 5.5.2 command line over 512 octets
  kBadCommandSyntax,      // 500 5.5.2 empty or garbled command line
  kUnknownCommand,        // 500 5.5.1
  kBareNewline,           // 521 5.5.2 bare CR or LF (SMTP smuggling); the server closes
  kUsage,                 // 501 5.5.4 "Syntax: <usage>" (detail = usage, e.g. "EHLO hostname")
  kBadParameter,          // 501 5.5.4 malformed ESMTP parameter (detail = keyword)
  kDuplicateParameter,    // 501 5.5.4
  kUnsupportedParameter,  // 555 5.5.4 unknown or misplaced ESMTP parameter (detail = keyword)
  kBadSender,             // 501 5.1.7 bad reverse-path syntax
  kBadRecipient,          // 501 5.1.3 bad forward-path syntax
  kUtf8NotDeclared,       // 553 5.6.7 non-ASCII address without SMTPUTF8
  kSizeExceedsLimit,      // 552 5.3.4 MAIL SIZE= over the server's limit
  kMessageTooBig,         // 552 5.3.4 DATA over the size limit
  kDataLineTooLong,       // 500 5.5.2 DATA line over 1000 octets
  kBadSequence,           // 503 5.5.1 (detail = what is needed, e.g. "need MAIL command")
  kAuthCannotDecode,      // 501 5.5.2 AUTH response not base64
  kAuthAborted,           // 501 5.7.0 client sent "*"
  kAuthLineTooLong,       // 500 5.5.6
  kAuthBadMessage,        // 535 5.7.8 structurally invalid credentials (e.g. PLAIN without NULs)
  kAuthUnknownMechanism,  // 504 5.5.4
};

struct ErrorInfo {
  int code;                   // 3-digit reply code
  std::string_view enhanced;  // RFC 3463 "5.5.4"
  std::string_view text;      // reply text
  bool show_detail;           // append ": <detail>" to the reply text (sanitised)
  util::Code status_code;     // for util::Status conversions (logs, generic callers)
  std::string_view name;      // stable identifier for logs and tests
};

const ErrorInfo& Describe(Error error);

// The reply the server sends for `error`. `detail` is appended only where the table says so,
// with unsafe bytes replaced, so a hostile argument cannot inject reply lines.
Reply ErrorReply(Error error, std::string_view detail = {});

// A parse failure: which table entry, and a detail for logs (peer text, sanitised on output).
struct Failure {
  Error error;
  std::string detail;

  Reply ToReply() const { return ErrorReply(error, detail); }
  // "501 5.1.7 Bad sender address syntax (local part over 64 octets)"
  util::Status ToStatus() const;
};

// A T or a Failure. Like util::Result, but the failure knows its SMTP reply.
template <typename T>
class [[nodiscard]] ParseResult {
 public:
  ParseResult(T value) : value_(std::move(value)) {}              // NOLINT: implicit by design
  ParseResult(Failure failure) : failure_(std::move(failure)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

  // Only meaningful when !ok().
  const Failure& failure() const { return failure_; }
  Error error() const { return failure_.error; }
  Reply reply() const { return failure_.ToReply(); }
  util::Status status() const { return ok() ? util::Status::Ok() : failure_.ToStatus(); }

 private:
  std::optional<T> value_;
  Failure failure_{Error::kBadCommandSyntax, "uninitialised"};
};

inline Failure Fail(Error error, std::string detail = {}) {
  return Failure{error, std::move(detail)};
}

}  // namespace mailrelay::smtp
