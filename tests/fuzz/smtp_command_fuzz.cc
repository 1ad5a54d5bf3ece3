// libFuzzer target: a hostile client's command stream through the server's line reader and
// every command/argument parser in common/smtp. Crashes, leaks and UB are the findings; an
// error reply that is not exactly one CRLF-terminated line aborts too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/smtp/command.h"
#include "common/smtp/envelope_command.h"
#include "common/smtp/line_reader.h"
#include "common/smtp/sasl.h"

namespace {

using namespace mailrelay::smtp;  // NOLINT: fuzz entry point

void CheckReply(const Reply& reply) {
  std::string wire = reply.Format();
  if (wire.size() < 6 || wire.size() > 512 || wire.find('\n') != wire.size() - 1) std::abort();
}

void HandleLine(std::string_view line, bool* smtputf8) {
  ParseResult<Command> cmd = ParseCommand(line);
  if (!cmd.ok()) {
    CheckReply(cmd.reply());
    return;
  }
  switch (cmd->verb) {
    case Verb::kMail:
      for (bool lax : {false, true}) {
        EnvelopeOptions opts;
        opts.allow_missing_brackets = lax;
        ParseResult<MailFrom> m = ParseMailFrom(cmd->argument, opts);
        if (!m.ok()) {
          CheckReply(m.reply());
          continue;
        }
        *smtputf8 = m->params.smtputf8;
        ParseResult<Address> again =
            ParsePath(m->sender.Path(), PathKind::kReversePath, m->params.smtputf8);
        if (!again.ok() || again->domain != m->sender.domain ||
            again->local_part != m->sender.local_part) {
          std::abort();  // our own output must parse back to the same address
        }
      }
      break;
    case Verb::kRcpt: {
      ParseResult<RcptTo> r = ParseRcptTo(cmd->argument, *smtputf8);
      if (!r.ok()) CheckReply(r.reply());
      break;
    }
    case Verb::kAuth: {
      ParseResult<AuthCommand> a = ParseAuthArgument(cmd->argument);
      if (!a.ok()) {
        CheckReply(a.reply());
      } else if (a->initial_response) {
        (void)DecodeAuthPlain(*a->initial_response);
        (void)LoginExchange::Start(*a->initial_response);
      }
      break;
    }
    case Verb::kBdat:
      (void)ParseBdatArgument(cmd->argument);
      break;
    case Verb::kVrfy:
      (void)ParsePath(cmd->argument, PathKind::kMailbox, *smtputf8);
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte picks the read size, so lines get cut at every kind of place.
  size_t chunk = 1;
  if (!input.empty()) {
    chunk = 1 + static_cast<uint8_t>(input[0]) % 64;
    input.remove_prefix(1);
  }
  LineReader reader;
  bool smtputf8 = false;
  while (!input.empty()) {
    std::string_view piece = input.substr(0, chunk);
    input.remove_prefix(piece.size());
    while (true) {
      LineReader::Step st = reader.Feed(piece);
      if (st.consumed > piece.size()) std::abort();
      piece.remove_prefix(st.consumed);
      if (st.event == LineReader::Event::kLine) {
        if (reader.line().size() > kMaxCommandLine - 2) std::abort();
        HandleLine(reader.line(), &smtputf8);
      } else if (st.event == LineReader::Event::kBareNewline) {
        return 0;  // the server closes here
      } else if (st.event == LineReader::Event::kNeedMore) {
        if (!piece.empty()) std::abort();
        break;
      }
    }
  }
  return 0;
}
