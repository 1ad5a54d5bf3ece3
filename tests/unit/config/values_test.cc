#include "common/config/values.h"

#include <arpa/inet.h>

#include <gtest/gtest.h>

namespace mailrelay::config {
namespace {

TEST(Values, Sizes) {
  EXPECT_EQ(*ParseSize("35M"), 35ull << 20);
  EXPECT_EQ(*ParseSize("512k"), 512ull << 10);
  EXPECT_EQ(*ParseSize("1G"), 1ull << 30);
  EXPECT_EQ(*ParseSize("1000"), 1000u);
  for (const char* bad : {"", "M", "35Q", "-1", "1.5M", "35 M", "99999999999999999999"}) {
    EXPECT_FALSE(ParseSize(bad).ok()) << bad;
  }
  EXPECT_EQ(FormatSize(35ull << 20), "35M");
}

TEST(Values, Durations) {
  EXPECT_EQ(*ParseDuration("30s"), 30);
  EXPECT_EQ(*ParseDuration("5m"), 300);
  EXPECT_EQ(*ParseDuration("1h"), 3600);
  EXPECT_EQ(*ParseDuration("2d"), 172800);
  EXPECT_EQ(*ParseDuration("90"), 90);
  for (const char* bad : {"", "m", "5x", "-5m", "1.5h", "5 m"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(Values, Booleans) {
  for (const char* t : {"yes", "TRUE", "on", "1"}) EXPECT_TRUE(*ParseBool(t)) << t;
  for (const char* f : {"no", "False", "OFF", "0"}) EXPECT_FALSE(*ParseBool(f)) << f;
  for (const char* bad : {"", "y", "2", "nope"}) EXPECT_FALSE(ParseBool(bad).ok()) << bad;
}

TEST(Values, HostPorts) {
  auto v = ParseHostPortList("0.0.0.0:25, [::]:25,127.0.0.1:2525", true);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[1].host, "::");
  EXPECT_EQ((*v)[1].port, 25);
  EXPECT_EQ((*v)[1].ToString(), "[::]:25");
  EXPECT_EQ(ParseHostPort("*:25", true)->host, "0.0.0.0");
  EXPECT_EQ(ParseHostPort("smtp.example.com:587", false)->host, "smtp.example.com");
  for (const char* bad : {"", "25", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "[::1:25", "::1:25",
                          "[nothex]:25", "host name:25", "1.2.3.4:x"}) {
    EXPECT_FALSE(ParseHostPort(bad, false).ok()) << bad;
  }
  EXPECT_FALSE(ParseHostPort("smtp.example.com:25", true).ok());
}

TEST(Values, CidrsIncludingMappedIpv4) {
  auto v = ParseCidrList("127.0.0.0/8, ::1/128 10.0.0.0/8");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 3u);
  uint8_t a4[4];
  inet_pton(AF_INET, "127.1.2.3", a4);
  EXPECT_TRUE((*v)[0].ContainsAddress(AF_INET, a4));
  uint8_t a6[16];
  inet_pton(AF_INET6, "::ffff:10.9.8.7", a6);
  EXPECT_TRUE((*v)[2].ContainsAddress(AF_INET6, a6));
  inet_pton(AF_INET6, "::2", a6);
  EXPECT_FALSE((*v)[1].ContainsAddress(AF_INET6, a6));
  inet_pton(AF_INET, "11.0.0.1", a4);
  EXPECT_FALSE((*v)[2].ContainsAddress(AF_INET, a4));
  EXPECT_EQ(ParseCidr("192.0.2.7")->prefix, 32);
  EXPECT_EQ(ParseCidr("0.0.0.0/0")->prefix, 0);
  auto host_bits = ParseCidr("10.1.2.3/8");
  ASSERT_FALSE(host_bits.ok());
  EXPECT_NE(host_bits.status().message().find("10.0.0.0/8"), std::string::npos);
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "300.1.1.1", "10.0.0.0/x", "example.com"}) {
    EXPECT_FALSE(ParseCidr(bad).ok()) << bad;
  }
}

TEST(Values, RatesDomainsEmails) {
  EXPECT_EQ(ParseRate("30/m")->count, 30u);
  EXPECT_EQ(ParseRate("30/m")->period_seconds, 60u);
  EXPECT_EQ(ParseRate("1/s")->period_seconds, 1u);
  for (const char* bad : {"", "30", "0/m", "30/y", "x/m", "/m"}) EXPECT_FALSE(ParseRate(bad).ok()) << bad;
  EXPECT_EQ(*ParseDomain("Example.COM", false), "example.com");
  EXPECT_EQ(*ParseDomain("*.example.com", true), ".example.com");
  for (const char* bad : {"", "example.com.", "-a.com", "a..com", "ex ample.com", "bücher.de",
                          "*.example.com"}) {
    EXPECT_FALSE(ParseDomain(bad, false).ok()) << bad;
  }
  EXPECT_EQ(*ParseEmail("<Admin@Example.com>"), "Admin@example.com");
  for (const char* bad : {"", "admin", "@example.com", "a b@example.com", "a@", "a@example.com."}) {
    EXPECT_FALSE(ParseEmail(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace mailrelay::config
