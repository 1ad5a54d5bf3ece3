#include "common/smtp/errors.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace mailrelay::smtp {
namespace {

constexpr Error kLast = Error::kAuthUnknownMechanism;

TEST(Errors, EveryErrorHasAConsistentRow) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(kLast); ++i) {
    const ErrorInfo& info = Describe(static_cast<Error>(i));
    EXPECT_GE(info.code, 400) << info.name;
    EXPECT_LT(info.code, 600) << info.name;
    ASSERT_EQ(info.enhanced.size(), 5u) << info.name;
    // RFC 3463: the enhanced class matches the reply class.
    EXPECT_EQ(info.enhanced[0] - '0', info.code / 100) << info.name;
    EXPECT_FALSE(info.text.empty()) << info.name;
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate name " << info.name;
  }
}

TEST(Errors, TheRepliesTheRelaySends) {
  struct Case {
    Error error;
    std::string_view detail;
    std::string_view wire;
  };
  for (const Case& c : std::initializer_list<Case>{
           {Error::kLineTooLong, "", "500 5.5.2 Error: line too long\r\n"},
           {Error::kUnknownCommand, "FOO", "500 5.5.1 Error: command not recognized\r\n"},
           {Error::kBareNewline, "", "521 5.5.2 Error: bare <CR> or <LF> received\r\n"},
           {Error::kUsage, "EHLO hostname", "501 5.5.4 Syntax: EHLO hostname\r\n"},
           {Error::kBadParameter, "SIZE",
            "501 5.5.4 Syntax error in parameters or arguments: SIZE\r\n"},
           {Error::kUnsupportedParameter, "FOO", "555 5.5.4 Unsupported option: FOO\r\n"},
           {Error::kBadSender, "detail is for logs", "501 5.1.7 Bad sender address syntax\r\n"},
           {Error::kBadRecipient, "", "501 5.1.3 Bad recipient address syntax\r\n"},
           {Error::kUtf8NotDeclared, "",
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n"},
           {Error::kSizeExceedsLimit, "", "552 5.3.4 Message size exceeds fixed limit\r\n"},
           {Error::kMessageTooBig, "", "552 5.3.4 Error: message file too big\r\n"},
           {Error::kBadSequence, "need MAIL command", "503 5.5.1 Error: need MAIL command\r\n"},
           {Error::kAuthLineTooLong, "", "500 5.5.6 Authentication exchange line is too long\r\n"},
           {Error::kAuthUnknownMechanism, "", "504 5.5.4 Unrecognized authentication type\r\n"},
       }) {
    EXPECT_EQ(ErrorReply(c.error, c.detail).Format(), c.wire);
  }
}

TEST(Errors, DetailIsSanitisedAndBounded) {
  EXPECT_EQ(ErrorReply(Error::kUnsupportedParameter, "X\r\n250 ok").Format(),
            "555 5.5.4 Unsupported option: X??250 ok\r\n");
  std::string wire = ErrorReply(Error::kUnsupportedParameter, std::string(1000, 'K')).Format();
  EXPECT_LT(wire.size(), 150u);
}

TEST(Errors, ToStatus) {
  util::Status st = Fail(Error::kBadSender, "local part over 64 octets").ToStatus();
  EXPECT_EQ(st.code(), util::Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "501 5.1.7 Bad sender address syntax (local part over 64 octets)");
  EXPECT_EQ(Fail(Error::kMessageTooBig).ToStatus().code(), util::Code::kResourceExhausted);
  ParseResult<int> ok = 5;
  EXPECT_TRUE(ok.status().ok());
  ParseResult<int> bad = Fail(Error::kUsage, "DATA");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.reply().code, 501);
  EXPECT_EQ(bad.reply().enhanced, "5.5.4");
}

}  // namespace
}  // namespace mailrelay::smtp
