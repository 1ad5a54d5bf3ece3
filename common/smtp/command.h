// SMTP command lines (RFC 5321 section 4.1, plus AUTH RFC 4954, STARTTLS RFC 3207, BDAT
// RFC 3030): verb recognition and the per-verb argument rules that need no session state.
// Pure functions, any thread. Every failure carries the reply to send (see errors.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/smtp/errors.h"

namespace mailrelay::smtp {

enum class Verb {
  kUnknown,
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStarttls,
  kAuth,
  kBdat,
};

std::string_view VerbName(Verb verb);  // "EHLO"; "UNKNOWN" for kUnknown

struct Command {
  Verb verb = Verb::kUnknown;
  // Everything after the verb and its separating blanks, trailing blanks removed.
  std::string argument;
};

// Parses one command line without its CRLF. Verbs are case-insensitive; blanks (SP, HTAB)
// around the verb are tolerated. Errors: kLineTooLong (over 510 octets), kBadCommandSyntax
// (empty line, control characters), kUnknownCommand, kUsage (EHLO/HELO/VRFY/EXPN/MAIL/RCPT/
// AUTH/BDAT without an argument; DATA/RSET/STARTTLS with one). QUIT, NOOP and HELP take
// anything. MAIL, RCPT, AUTH and BDAT arguments are parsed by the functions below and in
// envelope_command.h, which need session state.
ParseResult<Command> ParseCommand(std::string_view line);

// "AUTH mechanism [initial-response]" argument (RFC 4954 section 4).
struct AuthCommand {
  std::string mechanism;  // uppercase, 1..20 of [A-Z0-9-_]
  // Raw (still base64, or "=" for empty); decode with DecodeSaslResponse() in sasl.h.
  std::optional<std::string> initial_response;
};
ParseResult<AuthCommand> ParseAuthArgument(std::string_view argument);

// "BDAT chunk-size [LAST]" argument (RFC 3030 section 2).
struct BdatCommand {
  uint64_t size = 0;
  bool last = false;
};
ParseResult<BdatCommand> ParseBdatArgument(std::string_view argument);

}  // namespace mailrelay::smtp
