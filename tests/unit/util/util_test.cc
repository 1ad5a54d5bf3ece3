#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "common/util/base64.h"
#include "common/util/clock.h"
#include "common/util/crypto.h"
#include "common/util/file.h"
#include "common/util/status.h"
#include "common/util/strings.h"

namespace mailrelay::util {
namespace {

TEST(Strings, TrimSplitJoin) {
  EXPECT_EQ(Trim("  a b \r\n"), "a b");
  EXPECT_EQ(Split(" a, b ,,c ", ','), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Split("a,,b", ',', false), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(Join({"x", "y"}, ", "), "x, y");
  EXPECT_TRUE(EqualsIgnoreCase("EHLO", "ehlo"));
  EXPECT_FALSE(EqualsIgnoreCase("EHLO", "ehl"));
  EXPECT_TRUE(EndsWithIgnoreCase("a@Example.COM", "example.com"));
}

TEST(Strings, ParseNumbers) {
  EXPECT_EQ(ParseUint("0"), 0u);
  EXPECT_EQ(ParseUint("18446744073709551615"), 18446744073709551615ull);
  EXPECT_FALSE(ParseUint("18446744073709551616"));
  EXPECT_FALSE(ParseUint(""));
  EXPECT_FALSE(ParseUint("1x"));
  EXPECT_FALSE(ParseUint("-1"));
  EXPECT_EQ(ParseInt("-42"), -42);
  EXPECT_FALSE(ParseInt("-"));
}

TEST(Strings, PrintableEscapesControlBytes) {
  EXPECT_EQ(Printable(std::string("a\r\nb\x01\xff", 6)), "a??b??");
  EXPECT_EQ(Printable("abcdef", 3), "abc...");
}

TEST(Base64, RoundTripAndRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*Base64Decode("Zm9v\r\nYmE="), "fooba");
  EXPECT_EQ(*Base64Decode("Zm8"), "fo");
  EXPECT_FALSE(Base64Decode("Zm9v!"));
  EXPECT_FALSE(Base64Decode("Z"));
  EXPECT_FALSE(Base64Decode("Zg==Zg"));
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(*Base64Decode(Base64Encode(all)), all);
  EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(all)), all);
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Hex, RoundTrip) {
  EXPECT_EQ(HexEncode("\x01\xab"), "01ab");
  EXPECT_EQ(*HexDecode("01AB"), "\x01\xab");
  EXPECT_FALSE(HexDecode("0"));
  EXPECT_FALSE(HexDecode("zz"));
}

TEST(Crypto, Sha256AndHmacKnownAnswers) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  Sha256Stream s;
  s.Update("a");
  s.Update("bc");
  EXPECT_EQ(s.Finish(), Sha256("abc"));
}

TEST(Crypto, UuidsAndConstantTimeEquals) {
  std::string u = UuidV4();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(UuidV4(), u);
  EXPECT_EQ(UuidFromName("x"), UuidFromName("x"));
  EXPECT_NE(UuidFromName("x"), UuidFromName("y"));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
}

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mr-util-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(FileTest, SecretFileRejectsGroupReadableAndStripsOneNewline) {
  std::string path = dir_ + "/secret";
  std::ofstream(path) << "hunter2\n\n";
  chmod(path.c_str(), 0640);
  auto bad = ReadSecretFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("chmod 600"), std::string::npos);
  chmod(path.c_str(), 0600);
  auto good = ReadSecretFile(path);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(*good, "hunter2\n");  // only one trailing newline is dropped
  EXPECT_FALSE(ReadSecretFile(dir_ + "/missing").ok());
  std::ofstream(dir_ + "/empty") << "";
  chmod((dir_ + "/empty").c_str(), 0600);
  EXPECT_FALSE(ReadSecretFile(dir_ + "/empty").ok());
}

TEST_F(FileTest, AtomicWriteLeavesNoTempFile) {
  ASSERT_TRUE(WriteFileAtomic(dir_, "a.eml", "hello\r\n").ok());
  EXPECT_EQ(*ReadFile(dir_ + "/a.eml"), "hello\r\n");
  EXPECT_FALSE(FileExists(dir_ + "/.a.eml.tmp." + std::to_string(getpid())));
  EXPECT_FALSE(WriteFileAtomic(dir_ + "/nope", "a.eml", "x").ok());
}

TEST_F(FileTest, MakeDirsCreatesNested) {
  ASSERT_TRUE(MakeDirs(dir_ + "/a/b/c", 0750).ok());
  EXPECT_TRUE(FileExists(dir_ + "/a/b/c"));
  std::ofstream(dir_ + "/f") << "x";
  EXPECT_FALSE(MakeDirs(dir_ + "/f", 0750).ok());
}

TEST_F(FileTest, IsInsideResolvesDotsAndSymlinks) {
  ASSERT_TRUE(MakeDirs(dir_ + "/spool/outbox", 0750).ok());
  ASSERT_TRUE(MakeDirs(dir_ + "/spoolish", 0750).ok());
  EXPECT_TRUE(IsInside(dir_ + "/spool/outbox", dir_ + "/spool"));
  EXPECT_TRUE(IsInside(dir_ + "/spool", dir_ + "/spool"));
  EXPECT_TRUE(IsInside(dir_ + "/spoolish/../spool/outbox", dir_ + "/spool/"));
  EXPECT_FALSE(IsInside(dir_ + "/spoolish", dir_ + "/spool"));  // a prefix of the name is not inside
  EXPECT_FALSE(IsInside(dir_ + "/spool", dir_ + "/spool/outbox"));
  EXPECT_FALSE(IsInside(dir_ + "/missing", dir_));
  ASSERT_EQ(symlink((dir_ + "/spool/outbox").c_str(), (dir_ + "/link").c_str()), 0);
  EXPECT_TRUE(IsInside(dir_ + "/link", dir_ + "/spool"));
}

TEST(Clock, Formats) {
  EXPECT_EQ(HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(IsoUtc(1500000), "1970-01-01T00:00:01.500Z");
  FakeClock c(5);
  c.Advance(10);
  EXPECT_EQ(c.NowMicros(), 15);
}

TEST(Status, ResultCarriesValueOrError) {
  Result<int> r = 5;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 5);
  Result<int> e = InvalidArgument("bad");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "bad");
  EXPECT_EQ(InvalidArgument("x").WithContext("f:1: ").message(), "f:1: x");
}

}  // namespace
}  // namespace mailrelay::util
