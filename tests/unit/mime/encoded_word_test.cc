#include "common/mime/encoded_word.h"

#include <gtest/gtest.h>

#include "common/mime/charset.h"

namespace mailrelay::mime {
namespace {

TEST(EncodedWord, BAndQInAnyCase) {
  EXPECT_EQ(DecodeHeaderText("=?UTF-8?B?w5xiZXI=?="),
            "\xc3\x9c"
            "ber");
  EXPECT_EQ(DecodeHeaderText("=?utf-8?b?w5xiZXI=?="),
            "\xc3\x9c"
            "ber");
  EXPECT_EQ(DecodeHeaderText("=?iso-8859-1?q?Gr=FC=DFe_Welt?="),
            "Gr\xc3\xbc\xc3\x9f"
            "e Welt");
  EXPECT_EQ(DecodeHeaderText("=?ISO-8859-1?Q?a=5Fb?="), "a_b");
  EXPECT_EQ(DecodeHeaderText("=?windows-1252?q?=93x=94?="), "\xe2\x80\x9cx\xe2\x80\x9d");
  EXPECT_EQ(DecodeHeaderText("=?utf-8*en?q?lang?="), "lang");  // RFC 2231 language
  EXPECT_EQ(DecodeHeaderText("=?utf-8?q?"
                             "?="),
            "");
}

TEST(EncodedWord, WhitespaceBetweenWordsIsDropped) {
  EXPECT_EQ(DecodeHeaderText("=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
  EXPECT_EQ(DecodeHeaderText("=?utf-8?q?a?=\t  =?utf-8?q?b?="), "ab");
  EXPECT_EQ(DecodeHeaderText("=?utf-8?q?a?=\r\n =?utf-8?q?b?="), "ab");
  EXPECT_EQ(DecodeHeaderText("=?utf-8?q?a_?= =?iso-8859-1?q?=E9?="), "a \xc3\xa9");
  // ...but not between a word and text.
  EXPECT_EQ(DecodeHeaderText("=?utf-8?q?a?= b =?utf-8?q?c?="), "a b c");
  EXPECT_EQ(DecodeHeaderText("x =?utf-8?q?a?= y"), "x a y");
}

TEST(EncodedWord, CharacterSplitAcrossWordsSurvives) {
  // U+00FC is C3 BC; a sloppy encoder put one byte in each word.
  EXPECT_EQ(DecodeHeaderText("=?utf-8?q?=C3?= =?utf-8?q?=BC?="), "\xc3\xbc");
  EXPECT_EQ(DecodeHeaderText("=?UTF-8?B?w4==?= =?utf-8?B?vA==?="), "\xc3\xbc");
}

TEST(EncodedWord, MalformedWordsAreLeftAsIs) {
  for (const char* s : {"=?utf-8?x?abc?=", "=?utf-8?q?abc",
                        "=?"
                        "?q?abc?=",
                        "=?utf-8?q?a b?=", "=?utf-8?qq?a?=", "==?", "=?", "a=?b", "=?utf-8?q?"}) {
    EXPECT_EQ(DecodeHeaderText(s), s);
  }
  // A bad one before a good one does not hide the good one.
  EXPECT_EQ(DecodeHeaderText("=?bad =?utf-8?q?ok?="), "=?bad ok");
}

TEST(EncodedWord, WordsTouchingTextAreDecoded) {
  EXPECT_EQ(DecodeHeaderText("re:=?utf-8?q?x?=!"), "re:x!");
  EXPECT_EQ(DecodeHeaderText("=?utf-8?q?a?==?utf-8?q?b?="), "ab");
}

TEST(EncodedWord, UnknownCharsetAndGarbageBytesAreBestEffort) {
  EXPECT_EQ(DecodeHeaderText("=?x-unknown?q?caf=E9?="), "caf\xc3\xa9");
  std::string out = DecodeHeaderText("=?utf-8?b?/w==?=");
  EXPECT_EQ(out, "\xef\xbf\xbd");
  EXPECT_EQ(DecodeHeaderText("raw caf\xe9"), "raw caf\xc3\xa9");  // raw 8-bit, not UTF-8
  EXPECT_EQ(DecodeHeaderText("raw caf\xc3\xa9"), "raw caf\xc3\xa9");
}

TEST(EncodedWord, ParseOneWord) {
  auto w = ParseEncodedWord("=?ISO-8859-1?Q?a_b?=");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->charset, "ISO-8859-1");
  EXPECT_EQ(w->bytes, "a b");
  EXPECT_FALSE(ParseEncodedWord(" =?utf-8?q?a?="));
  EXPECT_FALSE(ParseEncodedWord("=?utf-8?q?a?=x"));
}

TEST(EncodeWords, RoundTripsAndStaysWithinLimits) {
  for (std::string text : {std::string("Łukasz Larsen"), std::string("a"),
                           std::string("Größenänderung für Auftrag B805, Bestätigung — ☕📎"),
                           std::string(200, 'x') + "é",
                           std::string("日本語のテキスト") + std::string("です。") +
                               std::string("長い件名をエンコードします"),
                           std::string("_=?= ?"), std::string("")}) {
    std::string enc = EncodeWords(text);
    SCOPED_TRACE(enc);
    EXPECT_EQ(DecodeHeaderText(enc), text);
    if (text.empty()) {
      EXPECT_EQ(enc, "");
      continue;
    }
    size_t start = 0;
    while (start <= enc.size()) {
      size_t sp = enc.find(' ', start);
      std::string_view word =
          std::string_view(enc).substr(start, sp == std::string::npos ? sp : sp - start);
      EXPECT_LE(word.size(), 75u);
      EXPECT_TRUE(ParseEncodedWord(word)) << word;
      for (char c : word) {
        EXPECT_TRUE(c > 32 && c < 127) << "not plain ASCII: " << word;
      }
      if (sp == std::string::npos) break;
      start = sp + 1;
    }
  }
}

TEST(EncodeWords, NeverSplitsACharacterAndPicksTheShorterEncoding) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "\xf0\x9f\x93\x8e";  // 4-byte characters
  std::string enc = EncodeWords(text);
  EXPECT_EQ(enc.rfind("=?UTF-8?B?", 0), 0u);  // mostly non-ASCII: B is shorter
  size_t start = 0;
  while (true) {
    size_t sp = enc.find(' ', start);
    auto w = ParseEncodedWord(
        std::string_view(enc).substr(start, sp == std::string::npos ? sp : sp - start));
    ASSERT_TRUE(w);
    EXPECT_TRUE(IsValidUtf8(w->bytes));  // each word holds whole characters
    if (sp == std::string::npos) break;
    start = sp + 1;
  }
  EXPECT_EQ(EncodeWords("Fran\xc3\xa7ois Patel").rfind("=?UTF-8?Q?", 0), 0u);
  EXPECT_EQ(EncodeWords("Fran\xc3\xa7ois Patel"), "=?UTF-8?Q?Fran=C3=A7ois_Patel?=");
  EXPECT_EQ(DecodeHeaderText(EncodeWords("bad \xff byte")), "bad \xef\xbf\xbd byte");
}

TEST(EncodeWords, NeedsEncoding) {
  EXPECT_FALSE(NeedsEncoding("Plain ASCII, with punctuation!"));
  EXPECT_TRUE(NeedsEncoding("Gr\xc3\xbc\xc3\x9f"));
  EXPECT_TRUE(NeedsEncoding("line\r\nbreak"));
  EXPECT_TRUE(NeedsEncoding("looks like =?utf-8?q?x?="));
}

}  // namespace
}  // namespace mailrelay::mime
