#include "common/mime/charset.h"

#include <gtest/gtest.h>

namespace mailrelay::mime {
namespace {

TEST(Charset, Utf8PassesThroughAndInvalidBytesAreReplaced) {
  EXPECT_EQ(ToUtf8("gr\xc3\xbc\xc3\x9f", "UTF-8"), "gr\xc3\xbc\xc3\x9f");
  EXPECT_EQ(ToUtf8("a\xff"
                   "b",
                   "utf-8"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(ToUtf8("\xc0\xaf", "utf8"), "\xef\xbf\xbd\xef\xbf\xbd");                   // overlong
  EXPECT_EQ(ToUtf8("\xed\xa0\x80", "utf-8"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(ToUtf8("\xe2\x82", "utf-8"), "\xef\xbf\xbd\xef\xbf\xbd");                  // truncated
}

TEST(Charset, Latin1AndWindows1252) {
  EXPECT_EQ(ToUtf8("\xe4\xf6\xfc\xdf", "iso-8859-1"), "\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f");
  // 0x80-0x9F are windows-1252 punctuation, not C1 controls.
  EXPECT_EQ(ToUtf8("\x93Q\x94 \x96 \x80 \x85 \x99", "windows-1252"),
            "\xe2\x80\x9cQ\xe2\x80\x9d \xe2\x80\x93 \xe2\x82\xac \xe2\x80\xa6 \xe2\x84\xa2");
  EXPECT_EQ(ToUtf8("\x80", "CP1252"), "\xe2\x82\xac");
  EXPECT_EQ(ToUtf8("\x80", "latin1"), "\xe2\x82\xac");  // WHATWG: the label means 1252
  // Undefined windows-1252 bytes become the C1 control of the same number.
  EXPECT_EQ(ToUtf8("\x81\x8d", "windows-1252"), "\xc2\x81\xc2\x8d");
}

TEST(Charset, OtherCharsetsGoThroughIconv) {
  EXPECT_EQ(ToUtf8("\xa4", "iso-8859-15"), "\xe2\x82\xac");
  EXPECT_EQ(ToUtf8("\xa4", "ISO-8859-1"), "\xc2\xa4");
  EXPECT_EQ(ToUtf8("\xcf\xf0\xe8\xe2\xe5\xf2", "windows-1251"),
            "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
  EXPECT_EQ(ToUtf8("\xb1\xb9", "iso-8859-2"), "\xc4\x85\xc5\xa1");
  EXPECT_EQ(ToUtf8("\x9c", "windows-1250"), "\xc5\x9b");
  EXPECT_EQ(ToUtf8("\xf0\xd2\xc9\xd7\xc5\xd4", "koi8-r"),
            "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
  EXPECT_EQ(ToUtf8("\x82\xa0", "shift_jis"), "\xe3\x81\x82");
  EXPECT_EQ(ToUtf8("\xa4\xa2", "euc-jp"), "\xe3\x81\x82");
  EXPECT_EQ(ToUtf8("\xc4\xe3\xba\xc3", "gb2312"), "\xe4\xbd\xa0\xe5\xa5\xbd");
  EXPECT_EQ(ToUtf8(std::string("\xff\xfe"
                               "A\0",
                               4),
                   "utf-16"),
            "A");
}

TEST(Charset, Iso2022JpIsStateful) {
  // ESC $ B <JIS X 0208 "あ"> ESC ( B "x"
  EXPECT_EQ(ToUtf8("\x1b$B$\"\x1b(Bx", "ISO-2022-JP"), "\xe3\x81\x82x");
  // Pure ASCII needs no converter, but its escapes must not be taken for text.
  EXPECT_EQ(ToUtf8("plain", "iso-2022-jp"), "plain");
  // A broken escape sequence is replaced, the rest survives.
  std::string out = ToUtf8("ab\x1b$B$\"\x1b", "iso-2022-jp");
  EXPECT_EQ(out.substr(0, 2), "ab");
  EXPECT_TRUE(IsValidUtf8(out));
}

TEST(Charset, AsciiBytesInNonAsciiCompatibleCharsets) {
  EXPECT_EQ(ToUtf8("caf+AOk-", "utf-7"), "caf\xc3\xa9");
  EXPECT_EQ(ToUtf8("caf+AOk-", "UTF7"), "caf\xc3\xa9");
  EXPECT_EQ(ToUtf8("plain ascii", "iso-8859-15"), "plain ascii");
}

TEST(Charset, InvalidBytesInIconvCharsetsAreReplaced) {
  std::string out = ToUtf8(
      "a\x81\xff"
      "b",
      "shift_jis");
  EXPECT_TRUE(IsValidUtf8(out));
  EXPECT_EQ(out.front(), 'a');
  EXPECT_EQ(out.back(), 'b');
  EXPECT_NE(out.find("\xef\xbf\xbd"), std::string::npos);
}

TEST(Charset, UnknownAndAsciiLabelsAreGuessed) {
  EXPECT_EQ(ToUtf8("caf\xc3\xa9", "x-no-such-charset"), "caf\xc3\xa9");  // valid UTF-8
  EXPECT_EQ(ToUtf8("caf\xe9", "x-no-such-charset"), "caf\xc3\xa9");      // else 1252
  EXPECT_EQ(ToUtf8("caf\xe9", "us-ascii"), "caf\xc3\xa9");
  EXPECT_EQ(ToUtf8("caf\xe9", ""), "caf\xc3\xa9");
  EXPECT_EQ(ToUtf8("caf\xe9", "utf-8//TRANSLIT"), "caf\xc3\xa9");  // never handed to iconv
  EXPECT_EQ(ToUtf8("caf\xe9", "../../../etc/passwd"), "caf\xc3\xa9");
  EXPECT_EQ(ToUtf8("abc", std::string(5000, 'x')), "abc");
}

TEST(Charset, NamesAreNormalised) {
  EXPECT_EQ(NormalizeCharset(" \"UTF-8\" "), "utf-8");
  EXPECT_EQ(NormalizeCharset("ISO-8859-1*de"), "iso-8859-1");
  EXPECT_EQ(ToUtf8("\xe4", "'ISO-8859-1'"), "\xc3\xa4");
}

TEST(Charset, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x93\x8e"));
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_EQ(SanitizeUtf8("ok\x80"), "ok\xef\xbf\xbd");
  EXPECT_EQ(GuessToUtf8("\xe9t\xe9"), "\xc3\xa9t\xc3\xa9");
}

}  // namespace
}  // namespace mailrelay::mime
