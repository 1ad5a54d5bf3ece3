// libFuzzer target: an upstream server's replies through the client's reply parser and EHLO
// parser. The first byte picks the read size; every reply formatted back must re-parse with
// the same code and number of lines.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/smtp/ehlo.h"
#include "common/smtp/reply_parser.h"
#include "common/smtp/sasl.h"

using namespace mailrelay::smtp;  // NOLINT: fuzz entry point

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  ReplyParser parser;
  while (!input.empty()) {
    std::string_view piece = input.substr(0, chunk);
    input.remove_prefix(piece.size());
    while (!piece.empty()) {
      mailrelay::util::Result<size_t> used = parser.Feed(piece);
      if (!used.ok()) return 0;  // the client drops the connection
      if (*used > piece.size()) std::abort();
      piece.remove_prefix(*used);
      if (!parser.has_reply()) {
        if (!piece.empty()) std::abort();
        break;
      }
      Reply r = parser.TakeReply();
      if (r.code < 200 || r.code > 559 || r.lines.empty()) std::abort();
      (void)ParseEhloReply(r);
      if (!r.lines.empty()) (void)DecodeServerChallenge(r.lines[0]);

      ReplyParser again;
      std::string wire = r.Format();
      mailrelay::util::Result<size_t> n = again.Feed(wire);
      if (!n.ok() || *n != wire.size() || !again.has_reply()) std::abort();
      Reply back = again.TakeReply();
      if (back.code != r.code || back.lines.size() != r.lines.size()) std::abort();
    }
  }
  return 0;
}
