#include "common/smtp/ehlo.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/smtp/reply_parser.h"

namespace mailrelay::smtp {
namespace {

Reply Parse(std::string_view wire) {
  ReplyParser p;
  util::Result<size_t> used = p.Feed(wire);
  EXPECT_TRUE(used.ok()) << used.status().ToString();
  EXPECT_TRUE(p.has_reply());
  return p.TakeReply();
}

TEST(Ehlo, PostfixLikeResponse) {
  Reply r = Parse(
      "250-smtp.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
      "250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
      "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n");
  util::Result<EhloExtensions> e = ParseEhloReply(r);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->domain, "smtp.example.com");
  EXPECT_TRUE(e->pipelining);
  EXPECT_TRUE(e->size);
  EXPECT_EQ(e->size_limit, 10240000u);
  EXPECT_TRUE(e->starttls);
  EXPECT_TRUE(e->auth);
  EXPECT_EQ(e->auth_mechanisms, (std::vector<std::string>{"PLAIN", "LOGIN"}));
  EXPECT_TRUE(e->HasAuthMechanism("login"));
  EXPECT_FALSE(e->HasAuthMechanism("XOAUTH2"));
  EXPECT_TRUE(e->enhanced_status_codes);
  EXPECT_TRUE(e->eightbitmime);
  EXPECT_TRUE(e->dsn);
  EXPECT_TRUE(e->smtputf8);
  EXPECT_TRUE(e->chunking);
  EXPECT_FALSE(e->binarymime);
  EXPECT_EQ(e->other, (std::vector<std::string>{"VRFY", "ETRN"}));
}

TEST(Ehlo, Office365LikeResponseWithOldAuthForm) {
  Reply r = Parse(
      "250-outlook.office365.com Hello [192.0.2.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n"
      "250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n250-AUTH=LOGIN\r\n"
      "250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n");
  util::Result<EhloExtensions> e = ParseEhloReply(r);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->domain, "outlook.office365.com");
  EXPECT_EQ(e->auth_mechanisms, (std::vector<std::string>{"LOGIN", "XOAUTH2"}));
  EXPECT_TRUE(e->binarymime);
  EXPECT_TRUE(e->other.empty());
}

TEST(Ehlo, KeywordsAreCaseInsensitiveAndValuesOptional) {
  Reply r{250, "", {"mx", "size", "auth=plain cram-md5", "starttls", "Pipelining", "SIZE abc"}};
  util::Result<EhloExtensions> e = ParseEhloReply(r);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->size);
  EXPECT_EQ(e->size_limit, 0u);  // "SIZE abc" does not fail the session
  EXPECT_EQ(e->auth_mechanisms, (std::vector<std::string>{"PLAIN", "CRAM-MD5"}));
  EXPECT_TRUE(e->starttls);
  EXPECT_TRUE(e->pipelining);
}

TEST(Ehlo, AuthWithoutMechanisms) {
  util::Result<EhloExtensions> e = ParseEhloReply(Reply{250, "", {"mx", "AUTH"}});
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->auth);
  EXPECT_TRUE(e->auth_mechanisms.empty());
}

TEST(Ehlo, SingleLineResponseHasNoExtensions) {
  util::Result<EhloExtensions> e = ParseEhloReply(Parse("250 mx.example.com\r\n"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->domain, "mx.example.com");
  EXPECT_FALSE(e->pipelining || e->starttls || e->auth || e->size);
}

TEST(Ehlo, RefusalsAndEmptyReplies) {
  util::Result<EhloExtensions> e =
      ParseEhloReply(Parse("502 5.5.2 Error: command not recognized\r\n"));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), util::Code::kFailedPrecondition);
  EXPECT_FALSE(ParseEhloReply(Reply{250, "", {}}).ok());
}

TEST(Ehlo, ServerLinesRoundTrip) {
  EhloExtensions mine;
  mine.domain = "relay.example.com";
  mine.pipelining = true;
  mine.size = true;
  mine.size_limit = 36700160;
  mine.starttls = true;
  mine.auth = true;
  mine.auth_mechanisms = {"PLAIN", "LOGIN"};
  mine.enhanced_status_codes = true;
  mine.eightbitmime = true;
  mine.smtputf8 = true;
  mine.chunking = true;
  std::vector<std::string> lines = EhloReplyLines(mine, "Hello client.example [192.0.2.1]");
  EXPECT_EQ(lines.front(), "relay.example.com Hello client.example [192.0.2.1]");
  std::string wire = FormatReply(250, "", lines);
  EXPECT_EQ(wire.substr(0, 22), "250-relay.example.com ");
  util::Result<EhloExtensions> back = ParseEhloReply(Parse(wire));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->domain, mine.domain);
  EXPECT_EQ(back->size_limit, mine.size_limit);
  EXPECT_EQ(back->auth_mechanisms, mine.auth_mechanisms);
  EXPECT_TRUE(back->pipelining && back->starttls && back->enhanced_status_codes &&
              back->eightbitmime && back->smtputf8 && back->chunking);
  EXPECT_FALSE(back->dsn || back->binarymime);
  // AUTH is not advertised without mechanisms; bare SIZE without a limit.
  mine.auth_mechanisms.clear();
  mine.size_limit = 0;
  lines = EhloReplyLines(mine);
  EXPECT_EQ(lines.front(), "relay.example.com");
  EXPECT_NE(std::find(lines.begin(), lines.end(), "SIZE"), lines.end());
  for (const std::string& l : lines) EXPECT_NE(l.rfind("AUTH", 0), 0u) << l;
}

}  // namespace
}  // namespace mailrelay::smtp
