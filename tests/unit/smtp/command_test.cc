#include "common/smtp/command.h"

#include <gtest/gtest.h>

#include <string>

namespace mailrelay::smtp {
namespace {

Command Parse(std::string_view line) {
  ParseResult<Command> r = ParseCommand(line);
  EXPECT_TRUE(r.ok()) << line << ": " << r.status().ToString();
  return r.ok() ? *r : Command();
}

std::string ReplyFor(std::string_view line) {
  ParseResult<Command> r = ParseCommand(line);
  EXPECT_FALSE(r.ok()) << line;
  return r.ok() ? "" : r.reply().Format();
}

TEST(Command, VerbsAreCaseInsensitive) {
  struct Case {
    std::string_view line;
    Verb verb;
    std::string_view argument;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"EHLO client.example", Verb::kEhlo, "client.example"},
           {"ehlo client.example", Verb::kEhlo, "client.example"},
           {"HeLo [192.0.2.1]", Verb::kHelo, "[192.0.2.1]"},
           {"MAIL FROM:<a@b.example>", Verb::kMail, "FROM:<a@b.example>"},
           {"rcpt to:<c@d.example> NOTIFY=NEVER", Verb::kRcpt, "to:<c@d.example> NOTIFY=NEVER"},
           {"DATA", Verb::kData, ""},
           {"data", Verb::kData, ""},
           {"RSET", Verb::kRset, ""},
           {"NOOP", Verb::kNoop, ""},
           {"NOOP anything at all", Verb::kNoop, "anything at all"},
           {"QUIT", Verb::kQuit, ""},
           {"QUIT now", Verb::kQuit, "now"},
           {"VRFY postmaster", Verb::kVrfy, "postmaster"},
           {"EXPN staff", Verb::kExpn, "staff"},
           {"HELP", Verb::kHelp, ""},
           {"HELP MAIL", Verb::kHelp, "MAIL"},
           {"STARTTLS", Verb::kStarttls, ""},
           {"StartTLS", Verb::kStarttls, ""},
           {"AUTH PLAIN AHVzZXIAcGFzcw==", Verb::kAuth, "PLAIN AHVzZXIAcGFzcw=="},
           {"BDAT 100 LAST", Verb::kBdat, "100 LAST"},
           {"  NOOP  ", Verb::kNoop, ""},
           {"DATA \t ", Verb::kData, ""},
           {"MAIL   FROM:<>  ", Verb::kMail, "FROM:<>"},
           {"EHLO\tx", Verb::kEhlo, "x"},
       }) {
    Command cmd = Parse(c.line);
    EXPECT_EQ(cmd.verb, c.verb) << c.line;
    EXPECT_EQ(cmd.argument, c.argument) << c.line;
  }
  EXPECT_EQ(VerbName(Verb::kStarttls), "STARTTLS");
  EXPECT_EQ(VerbName(Verb::kUnknown), "UNKNOWN");
}

TEST(Command, UnknownAndGarbage) {
  EXPECT_EQ(ReplyFor("FOO bar"), "500 5.5.1 Error: command not recognized\r\n");
  EXPECT_EQ(ParseCommand("MAILFROM:<a@b>").error(), Error::kUnknownCommand);
  EXPECT_EQ(ParseCommand("TURN").error(), Error::kUnknownCommand);
  EXPECT_EQ(ParseCommand("EHL").error(), Error::kUnknownCommand);
  EXPECT_EQ(ParseCommand("GET / HTTP/1.1").error(), Error::kUnknownCommand);
  EXPECT_EQ(ReplyFor(""), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(ReplyFor("   "), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(ParseCommand(std::string("NOOP \0", 6)).error(), Error::kBadCommandSyntax);
  EXPECT_EQ(ParseCommand("NOOP \x01").error(), Error::kBadCommandSyntax);
  EXPECT_EQ(ParseCommand("NOOP \x7f").error(), Error::kBadCommandSyntax);
  EXPECT_EQ(ParseCommand("NOOP a\rb").error(), Error::kBareNewline);
  EXPECT_EQ(ParseCommand("NOOP a\nb").error(), Error::kBareNewline);
  // Non-ASCII arguments are allowed (SMTPUTF8 addresses); the address parser decides.
  EXPECT_TRUE(ParseCommand("RCPT TO:<jörg@example.com> ").ok());
}

TEST(Command, LineLength) {
  // 512 octets including CRLF: 510 for the line itself.
  std::string ok = "NOOP " + std::string(505, 'x');
  ASSERT_EQ(ok.size(), 510u);
  EXPECT_TRUE(ParseCommand(ok).ok());
  EXPECT_EQ(ReplyFor(ok + "x"), "500 5.5.2 Error: line too long\r\n");
}

TEST(Command, ArgumentRules) {
  EXPECT_EQ(ReplyFor("EHLO"), "501 5.5.4 Syntax: EHLO hostname\r\n");
  EXPECT_EQ(ReplyFor("EHLO   "), "501 5.5.4 Syntax: EHLO hostname\r\n");
  EXPECT_EQ(ReplyFor("HELO"), "501 5.5.4 Syntax: HELO hostname\r\n");
  EXPECT_EQ(ReplyFor("MAIL"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(ReplyFor("RCPT"), "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
  EXPECT_EQ(ReplyFor("DATA x"), "501 5.5.4 Syntax: DATA\r\n");
  EXPECT_EQ(ReplyFor("RSET x"), "501 5.5.4 Syntax: RSET\r\n");
  EXPECT_EQ(ReplyFor("STARTTLS x"), "501 5.5.4 Syntax: STARTTLS\r\n");
  EXPECT_EQ(ReplyFor("VRFY"), "501 5.5.4 Syntax: VRFY address\r\n");
  EXPECT_EQ(ReplyFor("EXPN"), "501 5.5.4 Syntax: EXPN mailing-list\r\n");
  EXPECT_EQ(ReplyFor("AUTH"), "501 5.5.4 Syntax: AUTH mechanism\r\n");
  EXPECT_EQ(ReplyFor("BDAT"), "501 5.5.4 Syntax: BDAT count [LAST]\r\n");
}

TEST(Command, AuthArgument) {
  ParseResult<AuthCommand> a = ParseAuthArgument("plain");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mechanism, "PLAIN");
  EXPECT_FALSE(a->initial_response);

  a = ParseAuthArgument("PLAIN AHVzZXIAcGFzcw==");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a->initial_response, "AHVzZXIAcGFzcw==");
  a = ParseAuthArgument("PLAIN =");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a->initial_response, "=");
  a = ParseAuthArgument("X-OAUTH_2");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mechanism, "X-OAUTH_2");

  for (std::string_view bad : {"", "LOGIN a b", "PL@IN", "ABCDEFGHIJKLMNOPQRSTU", "PLAIN\x01"}) {
    ParseResult<AuthCommand> r = ParseAuthArgument(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.reply().Format(), "501 5.5.4 Syntax: AUTH mechanism\r\n");
  }
}

TEST(Command, BdatArgument) {
  ParseResult<BdatCommand> b = ParseBdatArgument("100");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size, 100u);
  EXPECT_FALSE(b->last);
  b = ParseBdatArgument("0 last");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size, 0u);
  EXPECT_TRUE(b->last);
  b = ParseBdatArgument("18446744073709551615 LAST");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size, 18446744073709551615ull);
  for (std::string_view bad :
       {"", "x", "-1", "100 MORE", "100 LAST x", "18446744073709551616", "1e3", "+5"}) {
    EXPECT_EQ(ParseBdatArgument(bad).error(), Error::kUsage) << bad;
  }
}

}  // namespace
}  // namespace mailrelay::smtp
