// The passthrough AUTH user name (common/auth/passthrough_user.h), with the seed's rules and
// the worked value from shared/reference/cloud-apis.md 2.7 (the seed's docs print it wrong).
#include "common/auth/passthrough_user.h"

#include <gtest/gtest.h>

#include <string>

namespace mailrelay::auth {
namespace {

constexpr char kTenant[] = "12345678-1234-1234-1234-123456789abc";
constexpr char kTenantB64[] = "EjRWeBI0EjQSNBI0VniavA";
constexpr char kClient[] = "abcdefab-1234-5678-abcd-abcdefabcdef";

TEST(PassthroughUser, UuidPair) {
  auto u = ParsePassthroughUser(std::string(kTenant) + "@" + kClient, '@');
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->tenant_id, kTenant);
  EXPECT_EQ(u->client_id, kClient);
}

TEST(PassthroughUser, UppercaseIsCanonicalised) {
  auto u = ParsePassthroughUser(
      "12345678-1234-1234-1234-123456789ABC:ABCDEFAB-1234-5678-ABCD-ABCDEFABCDEF", ':');
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->tenant_id, kTenant);
  EXPECT_EQ(u->client_id, kClient);
}

TEST(PassthroughUser, Base64UrlFormAndTheWorkedValue) {
  auto id = ParseUuidOrBase64Url(kTenantB64);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, kTenant);
  // The seed's docs print EjRWeBI0EjQSNBI0VnirzQ for the same UUID: it is another one.
  EXPECT_EQ(*ParseUuidOrBase64Url("EjRWeBI0EjQSNBI0VnirzQ"),
            "12345678-1234-1234-1234-12345678abcd");
  EXPECT_EQ(*ParseUuidOrBase64Url(std::string(kTenantB64) + "=="), kTenant);
  auto u = ParsePassthroughUser(std::string(kTenantB64) + "|" + kClient, '|');
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->tenant_id, kTenant);
}

TEST(PassthroughUser, SuffixAfterTheFirstDotIsIgnored) {
  auto u =
      ParsePassthroughUser(std::string(kTenantB64) + "@" + kTenantB64 + ".relay.example.com", '@');
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->client_id, kTenant);
  // The cut happens before the delimiter is looked for: a dot in the tenant breaks it.
  EXPECT_FALSE(ParsePassthroughUser(std::string("contoso.onmicrosoft.com@") + kClient, '@').ok());
}

TEST(PassthroughUser, MalformedNamesAreRefusedWithAReason) {
  const std::string t = kTenant, c = kClient;
  for (const std::string& bad :
       std::vector<std::string>{"",
                                "alice",
                                "alice@example.com",
                                t,
                                t + "@",
                                "@" + c,
                                t + "@" + c + "@" + c,
                                t + ":" + c,
                                t + "@" + c.substr(1),
                                t + "@" + c + "x",
                                "lookup@" + c,
                                t + "@lookup",
                                "EjRWeBI0EjQSNBI0Vnia@" + c,                  // 20 characters
                                "EjRWeBI0EjQSNBI0VniavA+=@" + c,              // not base64url
                                "EjRWeBI0EjQSNBI0Vnia!A@" + c,                // not base64url
                                "1234567801234-1234-1234-123456789abc@" + c,  // dash misplaced
                                t + "@" + c + " ",
                                t + " @" + c,
                                t + "\r\n@" + c,
                                std::string(300, 'a'),
                                t + "@" + c + "." + std::string(250, 'x'),
                                std::string("\xc3\xa9") + t + "@" + c}) {
    auto r = ParsePassthroughUser(bad, '@');
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), util::Code::kInvalidArgument);
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  EXPECT_FALSE(ParsePassthroughUser(t + "#" + c, '#').ok());  // not a permitted delimiter
}

TEST(PassthroughUser, FormatUuid) {
  EXPECT_EQ(FormatUuid(std::string(
                "\x12\x34\x56\x78\x12\x34\x12\x34\x12\x34\x12\x34\x56\x78\x9a\xbc", 16)),
            kTenant);
}

}  // namespace
}  // namespace mailrelay::auth
