// MAIL FROM and RCPT TO arguments (RFC 5321 section 4.1.1.2-3) with their ESMTP parameters:
// SIZE (RFC 1870), BODY (6152, 3030), SMTPUTF8 (6531), AUTH= (4954), RET/ENVID/NOTIFY/ORCPT
// (3461). Pure functions, any thread. Failures carry their reply (errors.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/smtp/address.h"
#include "common/smtp/errors.h"

namespace mailrelay::smtp {

enum class BodyType { kUnspecified, k7Bit, k8BitMime, kBinaryMime };

struct MailParams {
  std::optional<uint64_t> size;  // SIZE=
  BodyType body = BodyType::kUnspecified;
  bool smtputf8 = false;
  std::optional<std::string> auth;   // AUTH= raw xtext, or "<>"
  std::optional<std::string> ret;    // "FULL" or "HDRS"
  std::optional<std::string> envid;  // raw xtext
};

struct MailFrom {
  Address sender;
  MailParams params;
};

struct RcptParams {
  std::optional<std::string> notify;  // uppercase: "NEVER" or e.g. "SUCCESS,FAILURE"
  std::optional<std::string> orcpt;   // raw "rfc822;xtext"
};

struct RcptTo {
  Address recipient;
  RcptParams params;
};

struct EnvelopeOptions {
  // Accept "MAIL FROM:user@example.com" without angle brackets, as Postfix does with
  // strict_rfc821_envelopes = no (old appliances send it). Off: RFC 5321 syntax only.
  bool allow_missing_brackets = false;
};

// `argument` is Command::argument: "FROM:<a@b> SIZE=10". One or more blanks may follow the
// colon. Keywords are case-insensitive; unknown or misplaced keywords are kUnsupportedParameter
// (555), repeated ones kDuplicateParameter, bad values kBadParameter (501 5.5.4). A bad path is
// kBadSender / kBadRecipient, a non-ASCII one without SMTPUTF8 kUtf8NotDeclared.
ParseResult<MailFrom> ParseMailFrom(std::string_view argument, const EnvelopeOptions& options = {});
// `smtputf8`: the transaction's MAIL FROM carried SMTPUTF8.
ParseResult<RcptTo> ParseRcptTo(std::string_view argument, bool smtputf8,
                                const EnvelopeOptions& options = {});

// RFC 3461 section 4 xtext ("+2B" for '+'); decoding accepts lowercase hex too.
std::optional<std::string> XtextDecode(std::string_view xtext);
std::string XtextEncode(std::string_view text);

}  // namespace mailrelay::smtp
