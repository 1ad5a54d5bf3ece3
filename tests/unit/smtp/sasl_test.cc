#include "common/smtp/sasl.h"

#include <gtest/gtest.h>

#include "common/util/base64.h"

namespace mailrelay::smtp {
namespace {

TEST(Sasl, ResponseDecoding) {
  EXPECT_EQ(*DecodeSaslResponse("dGVzdA=="), "test");
  EXPECT_EQ(*DecodeSaslResponse("="), "");
  EXPECT_EQ(*DecodeSaslResponse(""), "");
  ParseResult<std::string> r = DecodeSaslResponse("*");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.reply().Format(), "501 5.7.0 Authentication aborted\r\n");
  for (std::string_view bad : {"!!!", "dGVz dA==", "dGVzdA==\r", "d", "dGVzdA==dA"}) {
    r = DecodeSaslResponse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.reply().Format(), "501 5.5.2 Cannot decode response\r\n") << bad;
  }
}

TEST(Sasl, PlainInitialResponse) {
  ParseResult<PlainCredentials> c = DecodeAuthPlain("AHVzZXIAcGFzcw==");  // \0user\0pass
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->authzid, "");
  EXPECT_EQ(c->authcid, "user");
  EXPECT_EQ(c->password, "pass");
  c = DecodeAuthPlain("YWRtaW4AdXNlcgBwYXNz");  // admin\0user\0pass
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->authzid, "admin");
  EXPECT_EQ(c->authcid, "user");
}

TEST(Sasl, BadPlainMessages) {
  const std::string bad_message = "535 5.7.8 Authentication credentials invalid\r\n";
  EXPECT_EQ(DecodeAuthPlain("=").reply().Format(), bad_message);  // empty
  EXPECT_EQ(DecodeAuthPlain(util::Base64Encode("userpass")).reply().Format(), bad_message);
  EXPECT_EQ(DecodeAuthPlain(util::Base64Encode(std::string("user\0pass", 9))).reply().Format(),
            bad_message);
  EXPECT_EQ(DecodeAuthPlain(util::Base64Encode(std::string("\0\0pass", 6))).reply().Format(),
            bad_message);
  EXPECT_EQ(DecodeAuthPlain(util::Base64Encode(std::string("\0user\0", 6))).reply().Format(),
            bad_message);
  EXPECT_EQ(DecodeAuthPlain(util::Base64Encode(std::string("\0u\0p\0x", 7))).reply().Format(),
            bad_message);
  EXPECT_EQ(DecodeAuthPlain("*").error(), Error::kAuthAborted);
  EXPECT_EQ(DecodeAuthPlain("%%%").error(), Error::kAuthCannotDecode);
}

TEST(Sasl, LoginPromptsAreTheUsualOnes) {
  EXPECT_EQ(*util::Base64Decode(kLoginUsernameChallenge), "Username:");
  EXPECT_EQ(*util::Base64Decode(kLoginPasswordChallenge), "Password:");
}

TEST(Sasl, LoginExchange) {
  ParseResult<LoginExchange> x = LoginExchange::Start(std::nullopt);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->challenge(), "VXNlcm5hbWU6");
  ParseResult<bool> st = x->Step(util::Base64Encode("alice"));
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(*st);
  EXPECT_EQ(x->challenge(), "UGFzc3dvcmQ6");
  st = x->Step(util::Base64Encode("s3cret"));
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(*st);
  EXPECT_TRUE(x->done());
  EXPECT_EQ(x->challenge(), "");
  EXPECT_EQ(x->username(), "alice");
  EXPECT_EQ(x->password(), "s3cret");
  EXPECT_FALSE(x->Step("eA==").ok());
}

TEST(Sasl, LoginWithInitialResponse) {
  ParseResult<LoginExchange> x = LoginExchange::Start(util::Base64Encode("bob"));
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->username(), "bob");
  EXPECT_EQ(x->challenge(), kLoginPasswordChallenge);
  EXPECT_FALSE(LoginExchange::Start("!").ok());
  EXPECT_EQ(LoginExchange::Start("=").error(), Error::kAuthBadMessage);  // empty user name
}

TEST(Sasl, LoginCancelAndGarbage) {
  ParseResult<LoginExchange> x = LoginExchange::Start(std::nullopt);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->Step("*").error(), Error::kAuthAborted);
  EXPECT_EQ(x->Step("not base64!").error(), Error::kAuthCannotDecode);
  EXPECT_TRUE(x->Step(util::Base64Encode("u")).ok());
  EXPECT_TRUE(x->Step("").ok());  // an empty password is the checker's business
  EXPECT_TRUE(x->done());
}

TEST(Sasl, ClientEncoders) {
  EXPECT_EQ(*EncodePlainResponse("", "user", "pass"), "AHVzZXIAcGFzcw==");
  EXPECT_EQ(*EncodePlainResponse("admin", "user", "pass"), "YWRtaW4AdXNlcgBwYXNz");
  EXPECT_FALSE(EncodePlainResponse("", "", "pass").ok());
  EXPECT_FALSE(EncodePlainResponse("", std::string("u\0x", 3), "pass").ok());
  EXPECT_FALSE(EncodePlainResponse("", "user", std::string("p\0", 2)).ok());
  // Server and client agree.
  ParseResult<PlainCredentials> back = DecodeAuthPlain(*EncodePlainResponse("z", "ü", "p w"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->authzid, "z");
  EXPECT_EQ(back->authcid, "ü");
  EXPECT_EQ(back->password, "p w");

  EXPECT_EQ(EncodeLoginResponse("Username:"), kLoginUsernameChallenge);

  // Google's documented XOAUTH2 example.
  EXPECT_EQ(*EncodeXoauth2Response("someuser@example.com",
                                   "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbG"
            "NrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
  EXPECT_EQ(*util::Base64Decode(*EncodeXoauth2Response("u", "t")),
            "user=u\x01"
            "auth=Bearer t\x01\x01");
  EXPECT_FALSE(EncodeXoauth2Response("u\x01", "t").ok());
  EXPECT_FALSE(EncodeXoauth2Response("u", "t\x01").ok());
}

TEST(Sasl, ServerChallenges) {
  EXPECT_EQ(*DecodeServerChallenge("VXNlcm5hbWU6"), "Username:");
  EXPECT_EQ(*DecodeServerChallenge(" UGFzc3dvcmQ6 "), "Password:");
  EXPECT_EQ(*DecodeServerChallenge(""), "");
  EXPECT_FALSE(DecodeServerChallenge("not base64"));
}

}  // namespace
}  // namespace mailrelay::smtp
