#include "common/smtp/reply_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailrelay::smtp {
namespace {

// Feeds all of `data`, returns the replies (stops at the first error).
util::Result<std::vector<Reply>> ParseAll(std::string_view data, size_t chunk = 1 << 20,
                                          ReplyLimits limits = {}) {
  ReplyParser p(limits);
  std::vector<Reply> out;
  for (size_t pos = 0; pos < data.size(); pos += chunk) {
    std::string_view piece = data.substr(pos, chunk);
    while (true) {
      util::Result<size_t> used = p.Feed(piece);
      if (!used.ok()) return used.status();
      piece.remove_prefix(*used);
      if (p.has_reply()) {
        out.push_back(p.TakeReply());
        continue;
      }
      if (piece.empty()) break;
    }
  }
  return out;
}

Reply One(std::string_view data) {
  util::Result<std::vector<Reply>> r = ParseAll(data);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.ok() ? r->size() : 0, 1u);
  return r.ok() && r->size() == 1 ? (*r)[0] : Reply();
}

TEST(ReplyParser, SingleLineWithEnhancedCode) {
  Reply r = One("250 2.1.0 Sender ok\r\n");
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.enhanced, "2.1.0");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"Sender ok"}));
  r = One("550 5.1.1 <nobody@example.com>: Recipient address rejected\r\n");
  EXPECT_EQ(r.enhanced, "5.1.1");
  EXPECT_EQ(r.Text(), "<nobody@example.com>: Recipient address rejected");
  r = One("421 4.7.0 \r\n");
  EXPECT_EQ(r.enhanced, "4.7.0");
  EXPECT_EQ(r.lines[0], "");
  r = One("250 2.0.0\r\n");
  EXPECT_EQ(r.enhanced, "2.0.0");
  r = One("452 4.5.3 Too many recipients\r\n");
  EXPECT_EQ(r.enhanced, "4.5.3");
  r = One("550 5.123.456 long parts\r\n");
  EXPECT_EQ(r.enhanced, "5.123.456");
}

TEST(ReplyParser, EnhancedCodeOnlyWhenItFits) {
  Reply r = One("220 mx.example.com ESMTP\r\n");
  EXPECT_EQ(r.enhanced, "");
  EXPECT_EQ(r.lines[0], "mx.example.com ESMTP");
  EXPECT_EQ(One("250 5.1.0 class mismatch\r\n").enhanced, "");
  EXPECT_EQ(One("250 2.1 short\r\n").enhanced, "");
  EXPECT_EQ(One("250 2.1.0x glued\r\n").enhanced, "");
  EXPECT_EQ(One("250 2.1234.0 too many digits\r\n").enhanced, "");
  EXPECT_EQ(One("354 3.0.0 no class 3\r\n").enhanced, "");
}

TEST(ReplyParser, CodeOnlyAndBareLf) {
  Reply r = One("250\r\n");
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.lines, (std::vector<std::string>{""}));
  r = One("250 ok\n");  // LF-only servers exist; we read them.
  EXPECT_EQ(r.lines[0], "ok");
}

TEST(ReplyParser, MultiLine) {
  const std::string ehlo =
      "250-mx.example.com Hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n";
  Reply r = One(ehlo);
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"mx.example.com Hello", "PIPELINING", "SIZE 1000",
                                               "8BITMIME"}));
  r = One("550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n");
  EXPECT_EQ(r.enhanced, "5.7.1");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"first", "second", "third"}));
  // Round trip with the formatter.
  Reply back = One(r.Format());
  EXPECT_EQ(back.lines, r.lines);
  EXPECT_EQ(back.enhanced, r.enhanced);
}

TEST(ReplyParser, EverySplitPoint) {
  const std::string data =
      "250-mx.example.com\r\n250-AUTH PLAIN LOGIN\r\n250 2.0.0 ok\r\n354 go ahead\r\n";
  for (size_t chunk = 1; chunk <= data.size(); ++chunk) {
    util::Result<std::vector<Reply>> r = ParseAll(data, chunk);
    ASSERT_TRUE(r.ok()) << chunk;
    ASSERT_EQ(r->size(), 2u) << chunk;
    EXPECT_EQ((*r)[0].lines.size(), 3u);
    EXPECT_EQ((*r)[1].code, 354);
  }
}

TEST(ReplyParser, PipelinedRepliesComeOutOneAtATime) {
  const std::string data = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n";
  ReplyParser p;
  util::Result<size_t> used = p.Feed(data);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, 14u);
  ASSERT_TRUE(p.has_reply());
  EXPECT_EQ(p.TakeReply().enhanced, "2.1.0");
  EXPECT_FALSE(p.has_reply());
  // Until the reply is taken, nothing more is consumed.
  used = p.Feed(std::string_view(data).substr(14));
  ASSERT_TRUE(p.has_reply());
  EXPECT_EQ(*p.Feed("xyz"), 0u);
  EXPECT_EQ(p.TakeReply().enhanced, "2.1.5");
}

TEST(ReplyParser, Garbage) {
  for (std::string_view bad : {"hello\r\n", "25\r\n", "2500 x\r\n", "250x\r\n", "600 x\r\n",
                               "199 x\r\n", "260 x\r\n", "abc def\r\n", "\r\n", " 250 x\r\n",
                               "250-a\r\n251 b\r\n", "250-a\r\n550 b\r\n", "250-a\r\nxyz\r\n"}) {
    util::Result<std::vector<Reply>> r = ParseAll(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(ReplyParser, ErrorsAreSticky) {
  ReplyParser p;
  EXPECT_FALSE(p.Feed("garbage\r\n").ok());
  EXPECT_FALSE(p.Feed("250 ok\r\n").ok());
}

TEST(ReplyParser, Limits) {
  ReplyLimits limits;
  limits.max_line = 100;
  limits.max_lines = 3;
  EXPECT_TRUE(ParseAll("250 " + std::string(94, 'x') + "\r\n", 7, limits).ok());
  EXPECT_FALSE(ParseAll("250 " + std::string(95, 'x') + "\r\n", 7, limits).ok());
  // Without a line end the parser does not buffer past the limit either.
  ReplyParser p(limits);
  EXPECT_FALSE(p.Feed(std::string(1000, '2')).ok());
  EXPECT_TRUE(ParseAll("250-a\r\n250-b\r\n250 c\r\n", 1 << 20, limits).ok());
  EXPECT_FALSE(ParseAll("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", 1 << 20, limits).ok());
}

TEST(ReplyParser, SplitEnhancedCode) {
  std::string enhanced;
  std::string_view rest;
  EXPECT_TRUE(SplitEnhancedCode(550, "5.7.1 no", &enhanced, &rest));
  EXPECT_EQ(enhanced, "5.7.1");
  EXPECT_EQ(rest, "no");
  EXPECT_FALSE(SplitEnhancedCode(550, "4.7.1 no", &enhanced, &rest));
  EXPECT_FALSE(SplitEnhancedCode(550, "5..1 no", &enhanced, &rest));
  EXPECT_FALSE(SplitEnhancedCode(550, "5.1.", &enhanced, &rest));
  EXPECT_FALSE(SplitEnhancedCode(550, "", &enhanced, &rest));
}

}  // namespace
}  // namespace mailrelay::smtp
