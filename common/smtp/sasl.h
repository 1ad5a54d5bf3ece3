// SMTP AUTH SASL pieces (RFC 4954): server-side PLAIN (RFC 4616) and LOGIN decoding, client
// encoders for PLAIN, LOGIN, XOAUTH2; password checks live elsewhere. Any thread.
// Failures carry their reply (errors.h) or a util::Status; never log the inputs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/smtp/errors.h"
#include "common/util/status.h"

namespace mailrelay::smtp {

inline constexpr std::string_view kLoginUsernameChallenge = "VXNlcm5hbWU6";  // "Username:"
inline constexpr std::string_view kLoginPasswordChallenge = "UGFzc3dvcmQ6";  // "Password:"

// One client response line (or the AUTH initial response): "*" is kAuthAborted, "=" and ""
// are the empty response, otherwise strict base64 (no blanks) or kAuthCannotDecode.
ParseResult<std::string> DecodeSaslResponse(std::string_view line);

struct PlainCredentials {
  std::string authzid;  // empty: act as authcid
  std::string authcid;
  std::string password;
};

// authzid NUL authcid NUL passwd, already base64-decoded. Exactly two NULs, non-empty authcid
// and password, or kAuthBadMessage.
ParseResult<PlainCredentials> ParsePlainMessage(std::string_view message);
// DecodeSaslResponse + ParsePlainMessage.
ParseResult<PlainCredentials> DecodeAuthPlain(std::string_view response);

// Server side of AUTH LOGIN: ask for the user name, then the password (both base64).
class LoginExchange {
 public:
  // `initial_response`: the optional argument of "AUTH LOGIN <base64 user name>".
  static ParseResult<LoginExchange> Start(std::optional<std::string_view> initial_response);

  // The text for the next "334 " reply; empty once done().
  std::string_view challenge() const;
  // Feeds one client line; true once both answers are in.
  ParseResult<bool> Step(std::string_view line);
  bool done() const { return stage_ == Stage::kDone; }

  const std::string& username() const { return username_; }
  const std::string& password() const { return password_; }

 private:
  enum class Stage { kUsername, kPassword, kDone };
  Stage stage_ = Stage::kUsername;
  std::string username_;
  std::string password_;
};

// Client side. Each returns the base64 text to send (after "AUTH PLAIN " or on its own line).
// Fail with kInvalidArgument when a field contains a byte the format cannot carry.
util::Result<std::string> EncodePlainResponse(std::string_view authzid, std::string_view authcid,
                                              std::string_view password);
std::string EncodeLoginResponse(std::string_view user_or_password);
// XOAUTH2 (Google/Microsoft): "user=" user ^A "auth=Bearer " token ^A ^A.
util::Result<std::string> EncodeXoauth2Response(std::string_view user, std::string_view token);
// Decodes the text of a server's 334 reply (LOGIN prompts, an XOAUTH2 JSON error).
std::optional<std::string> DecodeServerChallenge(std::string_view text);

}  // namespace mailrelay::smtp
