#include "deliver-smtp/results.h"

#include <gtest/gtest.h>

namespace mailrelay::deliver_smtp {
namespace {

smtp::Reply R(int code, std::string enhanced, std::string text) {
  smtp::Reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines = {std::move(text)};
  return r;
}

TEST(Results, EnhancedCodes) {
  EXPECT_EQ(DefaultEnhanced(250), "2.0.0");
  EXPECT_EQ(DefaultEnhanced(451), "4.0.0");
  EXPECT_EQ(DefaultEnhanced(554), "5.0.0");
  EXPECT_EQ(EnhancedOf(R(550, "", "no")), "5.0.0");
  EXPECT_EQ(EnhancedOf(R(550, "5.1.1", "no")), "5.1.1");
  EXPECT_EQ(AsTransient("5.7.8"), "4.7.8");
  EXPECT_EQ(AsTransient("4.7.0"), "4.7.0");
  EXPECT_EQ(AsTransient(""), "4.0.0");
}

TEST(Results, SaidTextCarriesTheUpstreamsWordsAndTheCommand) {
  EXPECT_EQ(
      SaidText("mx.example.com[192.0.2.1]", R(550, "5.1.1", "<u@x>: User unknown"), "RCPT TO"),
      "host mx.example.com[192.0.2.1] said: 550 5.1.1 <u@x>: User unknown (in reply to RCPT TO "
      "command)");
  EXPECT_EQ(SaidText("h[1.2.3.4]", R(554, "", "go away"), ""), "host h[1.2.3.4] said: 554 go away");
  smtp::Reply multi = R(450, "4.2.0", "first");
  multi.lines.push_back("second");
  EXPECT_EQ(SaidText("h[ip]", multi, "DATA"),
            "host h[ip] said: 450 4.2.0 first second (in reply to DATA command)");
  // Control bytes from a hostile server never reach a log line or a DSN.
  EXPECT_EQ(SaidText("h[ip]", R(550, "", "a\rb\x01"), "").find('\r'), std::string::npos);
}

TEST(Results, ThrottlingReplies) {
  EXPECT_TRUE(IsThrottling(R(421, "4.7.0", "Too many connections")));
  EXPECT_TRUE(IsThrottling(R(421, "", "closing")));
  EXPECT_TRUE(
      IsThrottling(R(451, "4.7.500", "Server busy. Please try again later")));  // Microsoft 365
  EXPECT_TRUE(IsThrottling(R(432, "4.3.2", "STOREDRV.ClientSubmit; sender thread limit exceeded")));
  EXPECT_TRUE(
      IsThrottling(R(454, "", "Throttling failure: Maximum sending rate exceeded.")));  // SES
  EXPECT_TRUE(IsThrottling(R(452, "4.7.0", "Too many messages, slow down")));
  EXPECT_FALSE(IsThrottling(R(454, "4.7.0", "Temporary authentication failure")));
  EXPECT_FALSE(IsThrottling(R(451, "4.3.0", "Try again later")));
  EXPECT_FALSE(IsThrottling(R(450, "4.2.1", "Mailbox busy")));
  EXPECT_FALSE(IsThrottling(R(550, "5.7.1", "Too many recipients")));
  EXPECT_FALSE(IsThrottling(R(250, "2.0.0", "Ok")));
}

TEST(Results, QueuedAs) {
  EXPECT_EQ(QueuedAs(R(250, "2.0.0", "Ok: queued as 4Xy7PZ1b2")), "4Xy7PZ1b2");
  EXPECT_EQ(QueuedAs(R(250, "", "OK id=1qAbCd-0003xY-2Z")), "1qAbCd-0003xY-2Z");
  EXPECT_EQ(
      QueuedAs(R(250, "2.0.0", "OK <a@b> [Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com]")),
      "");
}

agent::DeliveryJob Job(std::string sender, std::vector<std::string> rcpts, std::string body,
                       bool smtputf8) {
  agent::DeliveryJob j;
  j.sender = std::move(sender);
  for (size_t i = 0; i < rcpts.size(); ++i) j.recipients.push_back({static_cast<int>(i), rcpts[i]});
  j.body = std::move(body);
  j.smtputf8 = smtputf8;
  return j;
}

TEST(Results, NeedsSmtpUtf8) {
  EXPECT_FALSE(
      NeedsSmtpUtf8(Job("a@example.com", {"b@example.com"}, "Subject: x\r\n\r\nbody\r\n", false)));
  EXPECT_TRUE(NeedsSmtpUtf8(Job("jos\xc3\xa9@example.com", {"b@example.com"}, "", true)));
  EXPECT_TRUE(
      NeedsSmtpUtf8(Job("a@example.com", {"b@example.com", "\xc3\xbc@example.com"}, "", true)));
  // UTF-8 headers need it only when the client declared SMTPUTF8 (RFC 6532).
  std::string utf8_header = "Subject: caf\xc3\xa9\r\n\r\nbody\r\n";
  EXPECT_TRUE(NeedsSmtpUtf8(Job("a@example.com", {"b@example.com"}, utf8_header, true)));
  EXPECT_FALSE(NeedsSmtpUtf8(Job("a@example.com", {"b@example.com"}, utf8_header, false)));
  // 8-bit in the body alone is 8BITMIME's business.
  EXPECT_FALSE(NeedsSmtpUtf8(
      Job("a@example.com", {"b@example.com"}, "Subject: x\r\n\r\ncaf\xc3\xa9\r\n", true)));
  EXPECT_TRUE(HasEightBit("caf\xc3\xa9"));
  EXPECT_FALSE(HasEightBit("cafe"));
}

}  // namespace
}  // namespace mailrelay::deliver_smtp
