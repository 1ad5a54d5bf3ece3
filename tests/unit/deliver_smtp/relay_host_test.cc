#include "deliver-smtp/relay_host.h"

#include <gtest/gtest.h>

namespace mailrelay::deliver_smtp {
namespace {

TEST(RelayHost, NameIsLookedUpLowercase) {
  auto r = ParseRelayHost("SMTP.Example.COM", 587);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->literal);
  EXPECT_EQ(r->name, "smtp.example.com");
  EXPECT_EQ(r->port, 587);
  EXPECT_EQ(r->Peer("192.0.2.1"), "smtp.example.com[192.0.2.1]");
  EXPECT_EQ(r->Relay("192.0.2.1"), "smtp.example.com[192.0.2.1]:587");
}

TEST(RelayHost, Ipv4Literal) {
  auto r = ParseRelayHost("[192.0.2.7]", 25);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->literal);
  EXPECT_EQ(r->name, "192.0.2.7");
  EXPECT_EQ(r->configured, "[192.0.2.7]");  // what TLS verifies: an IP address check
  EXPECT_EQ(r->Relay("192.0.2.7"), "192.0.2.7[192.0.2.7]:25");
}

TEST(RelayHost, Ipv6LiteralWithAndWithoutTag) {
  auto tagged = ParseRelayHost("[IPv6:2001:db8::1]", 465);
  ASSERT_TRUE(tagged.ok());
  EXPECT_TRUE(tagged->literal);
  EXPECT_EQ(tagged->name, "2001:db8::1");
  auto bare = ParseRelayHost("[::1]", 465);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->name, "::1");
}

TEST(RelayHost, Refusals) {
  EXPECT_FALSE(ParseRelayHost("", 25).ok());
  EXPECT_FALSE(ParseRelayHost("[not-an-ip]", 25).ok());
  EXPECT_FALSE(ParseRelayHost("[192.0.2.1", 25).ok());
  EXPECT_FALSE(ParseRelayHost("host]", 25).ok());
  EXPECT_FALSE(ParseRelayHost("[IPv6:192.0.2.1]", 25).ok());
  EXPECT_FALSE(ParseRelayHost("smtp.example.com", 0).ok());
  EXPECT_FALSE(ParseRelayHost("smtp.example.com", 65536).ok());
}

}  // namespace
}  // namespace mailrelay::deliver_smtp
