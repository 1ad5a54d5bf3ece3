#include "common/smtp/reply.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailrelay::smtp {
namespace {

TEST(Reply, SingleLine) {
  EXPECT_EQ(FormatReply(250, "2.1.0", "Ok"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(FormatReply(250, "", "Ok"), "250 Ok\r\n");
  EXPECT_EQ(FormatReply(354, "", "End data with <CR><LF>.<CR><LF>"),
            "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(FormatReply(221, "2.0.0", ""), "221 2.0.0\r\n");
  EXPECT_EQ(FormatReply(250, "", ""), "250\r\n");
}

TEST(Reply, MultiLine) {
  std::vector<std::string> lines = {"relay.example.com", "PIPELINING", "SIZE 10240000",
                                    "ENHANCEDSTATUSCODES"};
  EXPECT_EQ(FormatReply(250, "", lines),
            "250-relay.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
            "250 ENHANCEDSTATUSCODES\r\n");
  std::vector<std::string> two = {"first", "second"};
  EXPECT_EQ(FormatReply(550, "5.7.1", two), "550-5.7.1 first\r\n550 5.7.1 second\r\n");
  EXPECT_EQ(FormatReply(250, "", std::vector<std::string>{}), "250\r\n");
  Reply r{451, "4.3.0", {"try", "again"}};
  EXPECT_EQ(r.Format(), "451-4.3.0 try\r\n451 4.3.0 again\r\n");
  EXPECT_EQ(r.Text(), "try again");
  EXPECT_TRUE(r.transient());
  EXPECT_FALSE(r.positive());
  EXPECT_FALSE(r.permanent());
}

TEST(Reply, TextCannotInjectLines) {
  EXPECT_EQ(FormatReply(250, "2.0.0", "Ok\r\n250 fake"), "250 2.0.0 Ok??250 fake\r\n");
  EXPECT_EQ(FormatReply(250, "", std::string("a\0b\nc", 5)), "250 a?b?c\r\n");
  std::vector<std::string> lines = {"x\ry", "z"};
  EXPECT_EQ(FormatReply(250, "", lines), "250-x?y\r\n250 z\r\n");
}

TEST(Reply, LongLinesAreCutTo512Octets) {
  std::string text(1000, 'x');
  std::string wire = FormatReply(250, "2.0.0", text);
  EXPECT_EQ(wire.size(), 512u);
  EXPECT_EQ(wire.substr(wire.size() - 2), "\r\n");
  EXPECT_EQ(wire.substr(0, 10), "250 2.0.0 ");
  // A cut never splits a UTF-8 sequence.
  std::string utf8;
  while (utf8.size() < 600) utf8 += "é";
  wire = FormatReply(250, "", utf8);
  EXPECT_LE(wire.size(), 512u);
  std::string body = wire.substr(4, wire.size() - 6);
  EXPECT_EQ(body.size() % 2, 0u);
}

TEST(Reply, CodesAreThreeDigits) {
  EXPECT_EQ(FormatReply(1250, "", "x"), "250 x\r\n");
  EXPECT_EQ(FormatReply(-1, "", "x"), "999 x\r\n");
}

}  // namespace
}  // namespace mailrelay::smtp
