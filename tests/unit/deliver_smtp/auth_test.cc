#include "deliver-smtp/auth.h"

#include <gtest/gtest.h>

namespace mailrelay::deliver_smtp {
namespace {

using config::SmtpAuthMechanism;

smtp::EhloExtensions Offering(std::vector<std::string> mechanisms) {
  smtp::EhloExtensions e;
  e.auth = !mechanisms.empty();
  e.auth_mechanisms = std::move(mechanisms);
  return e;
}

TEST(ChooseAuth, NoCredentialsNoAuth) {
  AuthDecision d =
      ChooseAuth(SmtpAuthMechanism::kAuto, false, Offering({"PLAIN"}), true, false, "h[ip]");
  EXPECT_EQ(d.mechanism, Mechanism::kNone);
  EXPECT_TRUE(d.refusal.empty());
}

TEST(ChooseAuth, AutoPrefersPlainThenLogin) {
  EXPECT_EQ(
      ChooseAuth(SmtpAuthMechanism::kAuto, true, Offering({"LOGIN", "PLAIN"}), true, false, "h")
          .mechanism,
      Mechanism::kPlain);
  EXPECT_EQ(
      ChooseAuth(SmtpAuthMechanism::kAuto, true, Offering({"LOGIN", "XOAUTH2"}), true, false, "h")
          .mechanism,
      Mechanism::kLogin);
  AuthDecision none = ChooseAuth(SmtpAuthMechanism::kAuto, true, Offering({"CRAM-MD5", "XOAUTH2"}),
                                 true, false, "h");
  EXPECT_EQ(none.mechanism, Mechanism::kNone);
  EXPECT_NE(none.refusal.find("no SASL mechanism in common"), std::string::npos);
  EXPECT_NE(none.refusal.find("CRAM-MD5 XOAUTH2"), std::string::npos);
}

TEST(ChooseAuth, ConfiguredMechanismIsUsed) {
  EXPECT_EQ(
      ChooseAuth(SmtpAuthMechanism::kLogin, true, Offering({"PLAIN", "LOGIN"}), true, false, "h")
          .mechanism,
      Mechanism::kLogin);
  EXPECT_EQ(ChooseAuth(SmtpAuthMechanism::kXoauth2, true, Offering({"LOGIN", "XOAUTH2"}), true,
                       false, "h")
                .mechanism,
            Mechanism::kXoauth2);
  EXPECT_EQ(
      ChooseAuth(SmtpAuthMechanism::kPlain, true, Offering({"LOGIN"}), true, false, "h").mechanism,
      Mechanism::kPlain);  // the server's 504 will say why, in its own words
}

TEST(ChooseAuth, NeverInTheClearUnlessTlsNone) {
  AuthDecision d = ChooseAuth(SmtpAuthMechanism::kAuto, true, Offering({"PLAIN"}), false, false,
                              "mx[192.0.2.1]");
  EXPECT_EQ(d.mechanism, Mechanism::kNone);
  EXPECT_NE(d.refusal.find(
                "refusing to send credentials to mx[192.0.2.1] over an unencrypted connection"),
            std::string::npos);
  EXPECT_EQ(
      ChooseAuth(SmtpAuthMechanism::kAuto, true, Offering({"PLAIN"}), false, true, "h").mechanism,
      Mechanism::kPlain);
}

TEST(ChooseAuth, CredentialsButNoAuthOfferedIsRefused) {
  AuthDecision d = ChooseAuth(SmtpAuthMechanism::kAuto, true, Offering({}), true, false, "mx[ip]");
  EXPECT_NE(d.refusal.find("does not offer AUTH"), std::string::npos);
  EXPECT_EQ(MechanismName(Mechanism::kXoauth2), std::string("XOAUTH2"));
}

}  // namespace
}  // namespace mailrelay::deliver_smtp
