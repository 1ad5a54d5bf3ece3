#include "common/smtp/envelope_command.h"

#include <gtest/gtest.h>

#include <string>

#include "common/smtp/command.h"

namespace mailrelay::smtp {
namespace {

MailFrom Mail(std::string_view arg, EnvelopeOptions opts = {}) {
  ParseResult<MailFrom> r = ParseMailFrom(arg, opts);
  EXPECT_TRUE(r.ok()) << arg << ": " << r.status().ToString();
  return r.ok() ? *r : MailFrom();
}

std::string MailReply(std::string_view arg, EnvelopeOptions opts = {}) {
  ParseResult<MailFrom> r = ParseMailFrom(arg, opts);
  EXPECT_FALSE(r.ok()) << arg;
  return r.ok() ? "" : r.reply().Format();
}

RcptTo Rcpt(std::string_view arg, bool utf8 = false) {
  ParseResult<RcptTo> r = ParseRcptTo(arg, utf8);
  EXPECT_TRUE(r.ok()) << arg << ": " << r.status().ToString();
  return r.ok() ? *r : RcptTo();
}

std::string RcptReply(std::string_view arg, bool utf8 = false) {
  ParseResult<RcptTo> r = ParseRcptTo(arg, utf8);
  EXPECT_FALSE(r.ok()) << arg;
  return r.ok() ? "" : r.reply().Format();
}

constexpr std::string_view kBadSender = "501 5.1.7 Bad sender address syntax\r\n";
constexpr std::string_view kBadRecipient = "501 5.1.3 Bad recipient address syntax\r\n";

TEST(MailFrom, Basic) {
  MailFrom m = Mail("FROM:<sender@example.com>");
  EXPECT_EQ(m.sender.Mailbox(), "sender@example.com");
  EXPECT_EQ(m.sender.original, "<sender@example.com>");
  EXPECT_FALSE(m.params.size);
  EXPECT_EQ(m.params.body, BodyType::kUnspecified);
  EXPECT_FALSE(m.params.smtputf8);
  EXPECT_EQ(Mail("from:<sender@example.com>").sender.Mailbox(), "sender@example.com");
  EXPECT_TRUE(Mail("FROM:<>").sender.null_path);
  EXPECT_TRUE(Mail("FROM:<> SIZE=10").sender.null_path);
}

TEST(MailFrom, SpaceAfterColonIsTolerated) {
  EXPECT_EQ(Mail("FROM: <sender@example.com>").sender.domain, "example.com");
  EXPECT_EQ(Mail("FROM:  <sender@example.com>  SIZE=5").params.size, 5u);
  EXPECT_EQ(MailReply("FROM :<sender@example.com>"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(MailReply("FROM"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(MailReply("FROM:"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(MailReply("TO:<a@b.example>"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
}

TEST(MailFrom, PathErrors) {
  EXPECT_EQ(MailReply("FROM:sender@example.com"), kBadSender);
  EXPECT_EQ(MailReply("FROM:<sender@example.com"), kBadSender);
  EXPECT_EQ(MailReply("FROM:<sender@example.com>SIZE=10"), kBadSender);
  EXPECT_EQ(MailReply("FROM:<sender@example.com.>"), kBadSender);
  EXPECT_EQ(MailReply("FROM:<sender>"), kBadSender);
  EXPECT_EQ(MailReply("FROM:<postmaster>"), kBadSender);
  EXPECT_EQ(MailReply("FROM:<a@b.example> <c@d.example>"),
            "501 5.5.4 Syntax error in parameters or arguments: <c@d.example>\r\n");
}

TEST(MailFrom, MissingBracketsWhenAllowed) {
  EnvelopeOptions lax;
  lax.allow_missing_brackets = true;
  MailFrom m = Mail("FROM:sender@example.com SIZE=1", lax);
  EXPECT_EQ(m.sender.Mailbox(), "sender@example.com");
  EXPECT_EQ(m.params.size, 1u);
  EXPECT_EQ(m.sender.original, "sender@example.com");  // as sent, no brackets invented
  EXPECT_EQ(Mail("FROM: sender@example.com", lax).sender.domain, "example.com");
  EXPECT_EQ(Mail("FROM:<a@b.example>", lax).sender.domain, "b.example");
  EXPECT_EQ(MailReply("FROM:sender", lax), kBadSender);
}

TEST(MailFrom, QuotedBracketInsideLocalPart) {
  MailFrom m = Mail("FROM:<\"a>b\"@example.com> SIZE=3");
  EXPECT_EQ(m.sender.local_part, "a>b");
  EXPECT_EQ(m.params.size, 3u);
}

TEST(MailFrom, Parameters) {
  MailFrom m =
      Mail("FROM:<a@b.example> SIZE=1000 BODY=8BITMIME AUTH=<> RET=hdrs ENVID=QQ314159 SMTPUTF8");
  EXPECT_EQ(m.params.size, 1000u);
  EXPECT_EQ(m.params.body, BodyType::k8BitMime);
  EXPECT_EQ(*m.params.auth, "<>");
  EXPECT_EQ(*m.params.ret, "HDRS");
  EXPECT_EQ(*m.params.envid, "QQ314159");
  EXPECT_TRUE(m.params.smtputf8);

  MailFrom lower = Mail("FROM:<a@b.example> size=7 body=7bit smtputf8 ret=FULL");
  EXPECT_EQ(lower.params.size, 7u);
  EXPECT_EQ(lower.params.body, BodyType::k7Bit);
  EXPECT_TRUE(lower.params.smtputf8);
  EXPECT_EQ(Mail("FROM:<a@b.example> BODY=BINARYMIME").params.body, BodyType::kBinaryMime);
  EXPECT_EQ(*Mail("FROM:<a@b.example> AUTH=user+40example.com").params.auth, "user+40example.com");
  EXPECT_EQ(Mail("FROM:<a@b.example>\tSIZE=1").params.size, 1u);
  EXPECT_EQ(Mail("FROM:<a@b.example> SIZE=0").params.size, 0u);
}

TEST(MailFrom, BadParameters) {
  const std::string bad_size = "501 5.5.4 Syntax error in parameters or arguments: SIZE\r\n";
  EXPECT_EQ(MailReply("FROM:<a@b.example> SIZE=abc"), bad_size);
  EXPECT_EQ(MailReply("FROM:<a@b.example> SIZE="), bad_size);
  EXPECT_EQ(MailReply("FROM:<a@b.example> SIZE"), bad_size);
  EXPECT_EQ(MailReply("FROM:<a@b.example> SIZE=-1"), bad_size);
  EXPECT_EQ(MailReply("FROM:<a@b.example> SIZE=99999999999999999999999"), bad_size);
  EXPECT_EQ(MailReply("FROM:<a@b.example> BODY=9BIT"),
            "501 5.5.4 Syntax error in parameters or arguments: BODY\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> BODY"),
            "501 5.5.4 Syntax error in parameters or arguments: BODY\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> SMTPUTF8=yes"),
            "501 5.5.4 Syntax error in parameters or arguments: SMTPUTF8\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> AUTH=a+4"),
            "501 5.5.4 Syntax error in parameters or arguments: AUTH\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> AUTH"),
            "501 5.5.4 Syntax error in parameters or arguments: AUTH\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> RET=ALL"),
            "501 5.5.4 Syntax error in parameters or arguments: RET\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> ENVID=" + std::string(101, 'x')),
            "501 5.5.4 Syntax error in parameters or arguments: ENVID\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> =5"),
            "501 5.5.4 Syntax error in parameters or arguments: =5\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> -X=5"),
            "501 5.5.4 Syntax error in parameters or arguments: -X=5\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> SIZE=1=2"),
            "501 5.5.4 Syntax error in parameters or arguments: SIZE\r\n");
  // Non-ASCII values need SMTPUTF8.
  EXPECT_EQ(MailReply("FROM:<a@b.example> ENVID=jörg"),
            "501 5.5.4 Syntax error in parameters or arguments: ENVID\r\n");
}

TEST(MailFrom, DuplicateParameters) {
  EXPECT_EQ(MailReply("FROM:<a@b.example> SIZE=1 SIZE=2"),
            "501 5.5.4 Duplicate parameter: SIZE\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> BODY=7BIT body=8bitmime"),
            "501 5.5.4 Duplicate parameter: BODY\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> SMTPUTF8 SMTPUTF8"),
            "501 5.5.4 Duplicate parameter: SMTPUTF8\r\n");
}

TEST(MailFrom, UnsupportedParameters) {
  EXPECT_EQ(MailReply("FROM:<a@b.example> FOO=bar"), "555 5.5.4 Unsupported option: FOO\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> x-foo"), "555 5.5.4 Unsupported option: X-FOO\r\n");
  // RCPT's parameters do not belong on MAIL.
  EXPECT_EQ(MailReply("FROM:<a@b.example> NOTIFY=NEVER"),
            "555 5.5.4 Unsupported option: NOTIFY\r\n");
  EXPECT_EQ(MailReply("FROM:<a@b.example> ORCPT=rfc822;a@b"),
            "555 5.5.4 Unsupported option: ORCPT\r\n");
}

TEST(MailFrom, Smtputf8ControlsUtf8Addresses) {
  MailFrom m = Mail("FROM:<jörg@bücher.example> SMTPUTF8");
  EXPECT_TRUE(m.sender.utf8_local_part);
  EXPECT_EQ(m.sender.domain, "xn--bcher-kva.example");
  // ENVID stays xtext (ASCII) even under SMTPUTF8; only ORCPT gained a UTF-8 form (RFC 6533).
  EXPECT_EQ(MailReply("FROM:<a@bücher.example> SMTPUTF8 ENVID=jörg"),
            "501 5.5.4 Syntax error in parameters or arguments: ENVID\r\n");
  EXPECT_EQ(MailReply("FROM:<jörg@example.com>"),
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
  EXPECT_EQ(MailReply("FROM:<a@bücher.example> BODY=8BITMIME"),
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
}

TEST(MailFrom, FromACommandLine) {
  ParseResult<Command> cmd = ParseCommand("mail from: <Sender@Example.COM> size=12345");
  ASSERT_TRUE(cmd.ok());
  ASSERT_EQ(cmd->verb, Verb::kMail);
  MailFrom m = Mail(cmd->argument);
  EXPECT_EQ(m.sender.Mailbox(), "Sender@example.com");
  EXPECT_EQ(m.params.size, 12345u);
}

TEST(RcptTo, Basic) {
  RcptTo r = Rcpt("TO:<user@example.com>");
  EXPECT_EQ(r.recipient.Mailbox(), "user@example.com");
  EXPECT_EQ(Rcpt("to: <user@EXAMPLE.com>").recipient.domain, "example.com");
  EXPECT_TRUE(Rcpt("TO:<Postmaster>").recipient.postmaster);
  EXPECT_TRUE(Rcpt("To:<postmaster>").recipient.postmaster);
  EXPECT_EQ(RcptReply("TO:<>"), kBadRecipient);
  EXPECT_EQ(RcptReply("TO:user@example.com"), kBadRecipient);
  EXPECT_EQ(RcptReply("TO:<user@example.com."), kBadRecipient);
  EXPECT_EQ(RcptReply("TO:<user@example.com.>"), kBadRecipient);
  EXPECT_EQ(RcptReply("FROM:<user@example.com>"), "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
  EXPECT_EQ(RcptReply("TO :<user@example.com>"), "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
}

TEST(RcptTo, RelayTricksPassSyntaxButAreFlagged) {
  EXPECT_TRUE(Rcpt("TO:<user%other.org@example.com>").recipient.percent_hack);
  EXPECT_TRUE(Rcpt("TO:<a!b@example.com>").recipient.bang_path);
  EXPECT_TRUE(Rcpt("TO:<@a,@b:user@example.com>").recipient.source_route);
  EXPECT_TRUE(Rcpt("TO:<\"a@b\"@example.com>").recipient.quoted_at);
}

TEST(RcptTo, DsnParameters) {
  RcptTo r = Rcpt("TO:<a@b.example> NOTIFY=success,failure ORCPT=rfc822;a+40b.example");
  EXPECT_EQ(*r.params.notify, "SUCCESS,FAILURE");
  EXPECT_EQ(*r.params.orcpt, "rfc822;a+40b.example");
  EXPECT_EQ(*Rcpt("TO:<a@b.example> NOTIFY=NEVER").params.notify, "NEVER");
  EXPECT_EQ(*Rcpt("TO:<a@b.example> NOTIFY=DELAY").params.notify, "DELAY");
  const std::string bad_notify = "501 5.5.4 Syntax error in parameters or arguments: NOTIFY\r\n";
  EXPECT_EQ(RcptReply("TO:<a@b.example> NOTIFY=NEVER,SUCCESS"), bad_notify);
  EXPECT_EQ(RcptReply("TO:<a@b.example> NOTIFY=SOMETIMES"), bad_notify);
  EXPECT_EQ(RcptReply("TO:<a@b.example> NOTIFY=SUCCESS,SUCCESS"), bad_notify);
  EXPECT_EQ(RcptReply("TO:<a@b.example> NOTIFY=SUCCESS,"), bad_notify);
  EXPECT_EQ(RcptReply("TO:<a@b.example> NOTIFY"), bad_notify);
  const std::string bad_orcpt = "501 5.5.4 Syntax error in parameters or arguments: ORCPT\r\n";
  EXPECT_EQ(RcptReply("TO:<a@b.example> ORCPT=a@b.example"), bad_orcpt);
  EXPECT_EQ(RcptReply("TO:<a@b.example> ORCPT=;a@b.example"), bad_orcpt);
  EXPECT_EQ(RcptReply("TO:<a@b.example> ORCPT=rfc822;"), bad_orcpt);
  EXPECT_EQ(RcptReply("TO:<a@b.example> ORCPT=rfc822;a+zz"), bad_orcpt);
  EXPECT_EQ(RcptReply("TO:<a@b.example> NOTIFY=NEVER notify=NEVER"),
            "501 5.5.4 Duplicate parameter: NOTIFY\r\n");
  // MAIL's parameters do not belong on RCPT.
  EXPECT_EQ(RcptReply("TO:<a@b.example> SIZE=10"), "555 5.5.4 Unsupported option: SIZE\r\n");
  EXPECT_EQ(RcptReply("TO:<a@b.example> SMTPUTF8"), "555 5.5.4 Unsupported option: SMTPUTF8\r\n");
}

TEST(RcptTo, Utf8DependsOnTheTransaction) {
  EXPECT_EQ(Rcpt("TO:<jörg@bücher.example>", true).recipient.domain, "xn--bcher-kva.example");
  EXPECT_EQ(RcptReply("TO:<jörg@bücher.example>", false),
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
  EXPECT_EQ(*Rcpt("TO:<a@b.example> ORCPT=utf-8;jörg@b.example", true).params.orcpt,
            "utf-8;jörg@b.example");
  EXPECT_EQ(RcptReply("TO:<a@b.example> ORCPT=utf-8;jörg@b.example", false),
            "501 5.5.4 Syntax error in parameters or arguments: ORCPT\r\n");
}

TEST(Xtext, EncodeDecode) {
  EXPECT_EQ(XtextEncode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(*XtextDecode("a+2Bb+3Dc+20d"), "a+b=c d");
  EXPECT_EQ(*XtextDecode("a+2bb"), "a+b");  // lowercase hex tolerated
  EXPECT_EQ(*XtextDecode(""), "");
  EXPECT_FALSE(XtextDecode("a+2"));
  EXPECT_FALSE(XtextDecode("a+"));
  EXPECT_FALSE(XtextDecode("a+zz"));
  EXPECT_FALSE(XtextDecode("a=b"));
  EXPECT_FALSE(XtextDecode("a b"));
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(*XtextDecode(XtextEncode(all)), all);
}

}  // namespace
}  // namespace mailrelay::smtp
