// Randomised hostile input for every parser: nothing may crash, hang or break an invariant
// (these run under AddressSanitizer + UBSan). The fuzz targets in tests/fuzz go further.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/smtp/address.h"
#include "common/smtp/command.h"
#include "common/smtp/data_reader.h"
#include "common/smtp/dot_stuff.h"
#include "common/smtp/ehlo.h"
#include "common/smtp/envelope_command.h"
#include "common/smtp/line_reader.h"
#include "common/smtp/punycode.h"
#include "common/smtp/reply_parser.h"
#include "common/smtp/sasl.h"
#include "common/util/strings.h"

namespace mailrelay::smtp {
namespace {

class Garbage {
 public:
  explicit Garbage(uint32_t seed) : rng_(seed) {}

  // Mostly bytes that mean something to SMTP parsers, some anything at all.
  std::string Next(size_t max_len) {
    static const std::string kInteresting =
        "<>@.:,;\"\\ \t\r\n=+-%!()[]abcAZ09xn--IPv6FROMTOSIZE=BODY=SMTPUTF8\xc3\xbc\xff\x00.";
    static const char* kTokens[] = {
        "FROM:", "TO:",   "<",        ">",     "@",       "\r\n",          "\r\n.\r\n",
        "\n.\n", "SIZE=", "SMTPUTF8", "\"",    "xn--",    "[IPv6:",        "]",
        "250-",  "250 ",  "2.1.0 ",   "AUTH=", "NOTIFY=", "ORCPT=rfc822;", ".."};
    size_t len = rng_() % (max_len + 1);
    std::string s;
    while (s.size() < len) {
      switch (rng_() % 4) {
        case 0:
          s.push_back(static_cast<char>(rng_() & 0xff));
          break;
        case 1:
          s += kTokens[rng_() % (sizeof(kTokens) / sizeof(kTokens[0]))];
          break;
        default:
          s.push_back(kInteresting[rng_() % kInteresting.size()]);
      }
    }
    return s;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : rng_() % n; }

 private:
  std::mt19937 rng_;
};

constexpr int kIterations = 20000;

TEST(Garbage, CommandsAndEnvelope) {
  Garbage g(1);
  for (int i = 0; i < kIterations; ++i) {
    std::string line = g.Next(600);
    ParseResult<Command> cmd = ParseCommand(line);
    if (!cmd.ok()) {
      Reply r = cmd.reply();
      EXPECT_GE(r.code, 500);
      EXPECT_EQ(r.Format().find('\n'), r.Format().size() - 1);  // one line, no injection
    }
    for (bool lax : {false, true}) {
      EnvelopeOptions opts;
      opts.allow_missing_brackets = lax;
      ParseResult<MailFrom> m = ParseMailFrom(line, opts);
      if (m.ok()) {
        // Whatever parses must re-parse to the same address from its own output.
        ParseResult<Address> again =
            ParsePath(m->sender.Path(), PathKind::kReversePath, m->params.smtputf8);
        ASSERT_TRUE(again.ok()) << util::Printable(line);
        EXPECT_EQ(again->domain, m->sender.domain);
        EXPECT_EQ(again->local_part, m->sender.local_part);
      } else {
        EXPECT_FALSE(m.reply().Format().empty());
      }
      ParseResult<RcptTo> r = ParseRcptTo(line, i % 2 == 0, opts);
      if (!r.ok()) {
        EXPECT_FALSE(r.status().ok());
      }
    }
    (void)ParseAuthArgument(line);
    (void)ParseBdatArgument(line);
  }
}

TEST(Garbage, Addresses) {
  Garbage g(2);
  for (int i = 0; i < kIterations; ++i) {
    std::string text = g.Next(300);
    if (g.Below(2)) text = "<" + text + ">";
    for (PathKind kind : {PathKind::kReversePath, PathKind::kForwardPath, PathKind::kMailbox}) {
      for (bool utf8 : {false, true}) {
        ParseResult<Address> a = ParsePath(text, kind, utf8);
        if (!a.ok()) continue;
        EXPECT_LE(a->domain.size(), 255u + 8);
        EXPECT_TRUE(util::IsAscii(a->domain)) << util::Printable(text);
        if (!a->domain_literal) {
          EXPECT_EQ(a->domain, util::ToLower(a->domain));
        }
      }
    }
    (void)NormalizeDomain(text, true);
    (void)NormalizeDomain(text, false);
    (void)PunycodeDecode(text);
    (void)DomainToUnicode(text);
    (void)XtextDecode(text);
  }
}

TEST(Garbage, Readers) {
  Garbage g(3);
  for (int i = 0; i < 3000; ++i) {
    std::string stream = g.Next(3000);
    DataReader data(g.Below(2) ? 0 : g.Below(4000), 10 + g.Below(1000));
    LineReader lines(3 + g.Below(600));
    ReplyParser replies(ReplyLimits{8 + g.Below(300), 1 + g.Below(10)});
    DotStuffer stuffer;
    std::string content, stuffed;
    bool data_done = false, lines_done = false, replies_done = false;
    size_t pos = 0;
    while (pos < stream.size()) {
      std::string_view chunk = std::string_view(stream).substr(pos, 1 + g.Below(200));
      pos += chunk.size();
      if (!data_done) {
        DataReader::Step st = data.Feed(chunk, &content);
        ASSERT_LE(st.consumed, chunk.size());
        data_done = st.event != DataReader::Event::kNeedMore;
        if (!data_done) {
          ASSERT_EQ(st.consumed, chunk.size());
        }
      }
      std::string_view rest = chunk;
      while (!lines_done && !rest.empty()) {
        LineReader::Step st = lines.Feed(rest);
        ASSERT_LE(st.consumed, rest.size());
        rest.remove_prefix(st.consumed);
        if (st.event == LineReader::Event::kLine) {
          (void)ParseCommand(lines.line());
        } else if (st.event == LineReader::Event::kBareNewline) {
          lines_done = true;
        } else if (st.event == LineReader::Event::kNeedMore) {
          ASSERT_TRUE(rest.empty());
        }
      }
      rest = chunk;
      while (!replies_done && !rest.empty()) {
        util::Result<size_t> used = replies.Feed(rest);
        if (!used.ok()) {
          replies_done = true;
          break;
        }
        ASSERT_LE(*used, rest.size());
        rest.remove_prefix(*used);
        if (replies.has_reply()) {
          Reply r = replies.TakeReply();
          ASSERT_GE(r.code, 200);
          ASSERT_LT(r.code, 560);
          (void)ParseEhloReply(r);
        }
      }
      stuffer.Feed(chunk, &stuffed);
    }
    stuffer.Finish(&stuffed);
    // Dot-stuffed output never contains a bare CR or LF and always ends with the marker.
    for (size_t k = 0; k < stuffed.size(); ++k) {
      if (stuffed[k] == '\n') {
        ASSERT_TRUE(k > 0 && stuffed[k - 1] == '\r');
      }
      if (stuffed[k] == '\r') {
        ASSERT_TRUE(k + 1 < stuffed.size() && stuffed[k + 1] == '\n');
      }
    }
    ASSERT_GE(stuffed.size(), 3u);
    ASSERT_EQ(stuffed.substr(stuffed.size() - 3), ".\r\n");
  }
}

TEST(Garbage, Sasl) {
  Garbage g(4);
  for (int i = 0; i < kIterations; ++i) {
    std::string s = g.Next(200);
    (void)DecodeAuthPlain(s);
    (void)DecodeSaslResponse(s);
    (void)ParsePlainMessage(s);
    (void)DecodeServerChallenge(s);
    ParseResult<LoginExchange> x = LoginExchange::Start(std::nullopt);
    ASSERT_TRUE(x.ok());
    (void)x->Step(s);
    (void)x->Step(s);
  }
}

}  // namespace
}  // namespace mailrelay::smtp
