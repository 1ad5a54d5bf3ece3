#include "common/smtp/errors.h"

#include <array>

#include "common/util/strings.h"

namespace mailrelay::smtp {

namespace {

using util::Code;

// Indexed by Error. Postfix's wording where the RFCs are silent (smtpd.c), RFC 4954 for AUTH.
constexpr std::array<ErrorInfo, 20> kTable = {{
    {500, "5.5.2", "Error: line too long", false, Code::kInvalidArgument, "line_too_long"},
    {500, "5.5.2", "Error: bad syntax", false, Code::kInvalidArgument, "bad_command_syntax"},
    {500, "5.5.1", "Error: command not recognized", false, Code::kInvalidArgument,
     "unknown_command"},
    {521, "5.5.2", "Error: bare <CR> or <LF> received", false, Code::kInvalidArgument,
     "bare_newline"},
    {501, "5.5.4", "Syntax", true, Code::kInvalidArgument, "usage"},
    {501, "5.5.4", "Syntax error in parameters or arguments", true, Code::kInvalidArgument,
     "bad_parameter"},
    {501, "5.5.4", "Duplicate parameter", true, Code::kInvalidArgument, "duplicate_parameter"},
    {555, "5.5.4", "Unsupported option", true, Code::kInvalidArgument, "unsupported_parameter"},
    {501, "5.1.7", "Bad sender address syntax", false, Code::kInvalidArgument, "bad_sender"},
    {501, "5.1.3", "Bad recipient address syntax", false, Code::kInvalidArgument, "bad_recipient"},
    {553, "5.6.7", "Must declare SMTPUTF8 to send unicode address", false, Code::kInvalidArgument,
     "utf8_not_declared"},
    {552, "5.3.4", "Message size exceeds fixed limit", false, Code::kResourceExhausted,
     "size_exceeds_limit"},
    {552, "5.3.4", "Error: message file too big", false, Code::kResourceExhausted,
     "message_too_big"},
    {500, "5.5.2", "Error: message line too long", false, Code::kInvalidArgument,
     "data_line_too_long"},
    {503, "5.5.1", "Error", true, Code::kFailedPrecondition, "bad_sequence"},
    {501, "5.5.2", "Cannot decode response", false, Code::kInvalidArgument, "auth_cannot_decode"},
    {501, "5.7.0", "Authentication aborted", false, Code::kInvalidArgument, "auth_aborted"},
    {500, "5.5.6", "Authentication exchange line is too long", false, Code::kInvalidArgument,
     "auth_line_too_long"},
    {535, "5.7.8", "Authentication credentials invalid", false, Code::kInvalidArgument,
     "auth_bad_message"},
    {504, "5.5.4", "Unrecognized authentication type", false, Code::kInvalidArgument,
     "auth_unknown_mechanism"},
}};

static_assert(kTable.size() == static_cast<size_t>(Error::kAuthUnknownMechanism) + 1,
              "every Error needs a row in kTable");

}  // namespace

const ErrorInfo& Describe(Error error) {
  size_t i = static_cast<size_t>(error);
  if (i >= kTable.size()) i = static_cast<size_t>(Error::kBadCommandSyntax);  // not reachable
  return kTable[i];
}

Reply ErrorReply(Error error, std::string_view detail) {
  const ErrorInfo& info = Describe(error);
  std::string text(info.text);
  if (info.show_detail && !detail.empty()) {
    text += ": ";
    text += util::Printable(detail, 80);
  }
  return Reply{info.code, std::string(info.enhanced), {std::move(text)}};
}

util::Status Failure::ToStatus() const {
  const ErrorInfo& info = Describe(error);
  std::string message =
      std::to_string(info.code) + " " + std::string(info.enhanced) + " " + std::string(info.text);
  if (!detail.empty()) message += " (" + util::Printable(detail) + ")";
  return util::Status(info.status_code, std::move(message));
}

}  // namespace mailrelay::smtp
