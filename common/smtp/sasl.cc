#include "common/smtp/sasl.h"

#include "common/util/base64.h"
#include "common/util/strings.h"

namespace mailrelay::smtp {

namespace {

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

}  // namespace

ParseResult<std::string> DecodeSaslResponse(std::string_view line) {
  if (line == "*") return Fail(Error::kAuthAborted);
  if (line.empty() || line == "=") return std::string();
  for (char c : line) {
    if (!IsBase64Char(c)) return Fail(Error::kAuthCannotDecode, "bad base64 character");
  }
  std::optional<std::string> decoded = util::Base64Decode(line);
  if (!decoded) return Fail(Error::kAuthCannotDecode, "bad base64");
  return std::move(*decoded);
}

ParseResult<PlainCredentials> ParsePlainMessage(std::string_view message) {
  size_t nul1 = message.find('\0');
  if (nul1 == std::string_view::npos) return Fail(Error::kAuthBadMessage, "PLAIN: no NUL");
  size_t nul2 = message.find('\0', nul1 + 1);
  if (nul2 == std::string_view::npos) return Fail(Error::kAuthBadMessage, "PLAIN: one NUL");
  if (message.find('\0', nul2 + 1) != std::string_view::npos) {
    return Fail(Error::kAuthBadMessage, "PLAIN: more than two NULs");
  }
  PlainCredentials c;
  c.authzid = std::string(message.substr(0, nul1));
  c.authcid = std::string(message.substr(nul1 + 1, nul2 - nul1 - 1));
  c.password = std::string(message.substr(nul2 + 1));
  if (c.authcid.empty()) return Fail(Error::kAuthBadMessage, "PLAIN: empty authcid");
  if (c.password.empty()) return Fail(Error::kAuthBadMessage, "PLAIN: empty password");
  return c;
}

ParseResult<PlainCredentials> DecodeAuthPlain(std::string_view response) {
  ParseResult<std::string> decoded = DecodeSaslResponse(response);
  if (!decoded.ok()) return decoded.failure();
  return ParsePlainMessage(*decoded);
}

ParseResult<LoginExchange> LoginExchange::Start(std::optional<std::string_view> initial_response) {
  LoginExchange x;
  if (initial_response) {
    ParseResult<bool> st = x.Step(*initial_response);
    if (!st.ok()) return st.failure();
  }
  return x;
}

std::string_view LoginExchange::challenge() const {
  switch (stage_) {
    case Stage::kUsername:
      return kLoginUsernameChallenge;
    case Stage::kPassword:
      return kLoginPasswordChallenge;
    case Stage::kDone:
      break;
  }
  return {};
}

ParseResult<bool> LoginExchange::Step(std::string_view line) {
  if (stage_ == Stage::kDone) return Fail(Error::kBadSequence, "AUTH LOGIN already complete");
  ParseResult<std::string> decoded = DecodeSaslResponse(line);
  if (!decoded.ok()) return decoded.failure();
  if (stage_ == Stage::kUsername) {
    if (decoded->empty()) return Fail(Error::kAuthBadMessage, "LOGIN: empty user name");
    username_ = std::move(*decoded);
    stage_ = Stage::kPassword;
    return false;
  }
  password_ = std::move(*decoded);
  stage_ = Stage::kDone;
  return true;
}

util::Result<std::string> EncodePlainResponse(std::string_view authzid, std::string_view authcid,
                                              std::string_view password) {
  if (authcid.empty()) return util::InvalidArgument("PLAIN needs a user name");
  for (std::string_view f : {authzid, authcid, password}) {
    if (f.find('\0') != std::string_view::npos) {
      return util::InvalidArgument("PLAIN fields cannot contain NUL");
    }
  }
  std::string msg;
  msg.reserve(authzid.size() + authcid.size() + password.size() + 2);
  msg.append(authzid).push_back('\0');
  msg.append(authcid).push_back('\0');
  msg.append(password);
  return util::Base64Encode(msg);
}

std::string EncodeLoginResponse(std::string_view text) { return util::Base64Encode(text); }

util::Result<std::string> EncodeXoauth2Response(std::string_view user, std::string_view token) {
  if (user.find('\x01') != std::string_view::npos || token.find('\x01') != std::string_view::npos) {
    return util::InvalidArgument("XOAUTH2 fields cannot contain ^A");
  }
  std::string msg = "user=";
  msg.append(user)
      .append(
          "\x01"
          "auth=Bearer ")
      .append(token)
      .append("\x01\x01");
  return util::Base64Encode(msg);
}

std::optional<std::string> DecodeServerChallenge(std::string_view text) {
  std::string_view t = util::Trim(text);
  for (char c : t) {
    if (!IsBase64Char(c)) return std::nullopt;
  }
  return util::Base64Decode(t);
}

}  // namespace mailrelay::smtp
