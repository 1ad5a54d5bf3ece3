#include "common/smtp/command.h"

#include <array>
#include <vector>

#include "common/smtp/limits.h"
#include "common/util/strings.h"

namespace mailrelay::smtp {

namespace {

struct VerbRule {
  Verb verb;
  std::string_view name;
  enum { kAny, kRequired, kNone } argument;
  std::string_view usage;  // for kUsage replies: "Syntax: <usage>"
};

constexpr std::array<VerbRule, 14> kVerbs = {{
    {Verb::kEhlo, "EHLO", VerbRule::kRequired, "EHLO hostname"},
    {Verb::kHelo, "HELO", VerbRule::kRequired, "HELO hostname"},
    {Verb::kMail, "MAIL", VerbRule::kRequired, "MAIL FROM:<address>"},
    {Verb::kRcpt, "RCPT", VerbRule::kRequired, "RCPT TO:<address>"},
    {Verb::kData, "DATA", VerbRule::kNone, "DATA"},
    {Verb::kRset, "RSET", VerbRule::kNone, "RSET"},
    {Verb::kNoop, "NOOP", VerbRule::kAny, "NOOP"},
    {Verb::kQuit, "QUIT", VerbRule::kAny, "QUIT"},
    {Verb::kVrfy, "VRFY", VerbRule::kRequired, "VRFY address"},
    {Verb::kExpn, "EXPN", VerbRule::kRequired, "EXPN mailing-list"},
    {Verb::kHelp, "HELP", VerbRule::kAny, "HELP"},
    {Verb::kStarttls, "STARTTLS", VerbRule::kNone, "STARTTLS"},
    {Verb::kAuth, "AUTH", VerbRule::kRequired, "AUTH mechanism"},
    {Verb::kBdat, "BDAT", VerbRule::kRequired, "BDAT count [LAST]"},
}};

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && util::IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && util::IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view VerbName(Verb verb) {
  for (const VerbRule& r : kVerbs) {
    if (r.verb == verb) return r.name;
  }
  return "UNKNOWN";
}

ParseResult<Command> ParseCommand(std::string_view line) {
  if (line.size() > kMaxCommandLine - 2) return Fail(Error::kLineTooLong);
  for (char c : line) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u == '\r' || u == '\n') return Fail(Error::kBareNewline, "CR or LF in command line");
    if ((u < 0x20 && u != '\t') || u == 0x7f) {
      return Fail(Error::kBadCommandSyntax, "control character in command line");
    }
  }
  std::string_view s = TrimBlanks(line);
  if (s.empty()) return Fail(Error::kBadCommandSyntax, "empty command line");
  size_t end = 0;
  while (end < s.size() && !util::IsBlank(s[end])) ++end;
  std::string_view verb = s.substr(0, end);
  std::string_view argument = TrimBlanks(s.substr(end));

  for (const VerbRule& r : kVerbs) {
    if (!util::EqualsIgnoreCase(verb, r.name)) continue;
    if (r.argument == VerbRule::kRequired && argument.empty()) {
      return Fail(Error::kUsage, std::string(r.usage));
    }
    if (r.argument == VerbRule::kNone && !argument.empty()) {
      return Fail(Error::kUsage, std::string(r.usage));
    }
    return Command{r.verb, std::string(argument)};
  }
  return Fail(Error::kUnknownCommand, std::string(verb));
}

ParseResult<AuthCommand> ParseAuthArgument(std::string_view argument) {
  std::vector<std::string> words;
  std::string_view s = TrimBlanks(argument);
  while (!s.empty()) {
    size_t end = 0;
    while (end < s.size() && !util::IsBlank(s[end])) ++end;
    words.emplace_back(s.substr(0, end));
    s = TrimBlanks(s.substr(end));
  }
  if (words.empty() || words.size() > 2) return Fail(Error::kUsage, "AUTH mechanism");
  const std::string& mech = words[0];
  if (mech.size() > 20) return Fail(Error::kUsage, "AUTH mechanism");
  for (char c : mech) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return Fail(Error::kUsage, "AUTH mechanism");
  }
  AuthCommand out;
  out.mechanism = util::ToUpper(mech);
  if (words.size() == 2) out.initial_response = words[1];
  return out;
}

ParseResult<BdatCommand> ParseBdatArgument(std::string_view argument) {
  std::string_view s = TrimBlanks(argument);
  size_t end = 0;
  while (end < s.size() && !util::IsBlank(s[end])) ++end;
  std::optional<uint64_t> size = util::ParseUint(s.substr(0, end));
  if (!size) return Fail(Error::kUsage, "BDAT count [LAST]");
  std::string_view rest = TrimBlanks(s.substr(end));
  BdatCommand out{*size, false};
  if (rest.empty()) return out;
  if (!util::EqualsIgnoreCase(rest, "LAST")) return Fail(Error::kUsage, "BDAT count [LAST]");
  out.last = true;
  return out;
}

}  // namespace mailrelay::smtp
