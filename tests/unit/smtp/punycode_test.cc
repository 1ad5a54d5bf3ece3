#include "common/smtp/punycode.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/smtp/utf8.h"
#include "common/util/strings.h"

namespace mailrelay::smtp {
namespace {

struct Sample {
  const char* name;
  std::u32string code_points;
  std::string encoded;
};

// RFC 3492 section 7.1.
const std::vector<Sample>& Samples() {
  static const std::vector<Sample> samples = {
      {"(A) Arabic (Egyptian)",
       U"\u0644\u064A\u0647\u0645\u0627\u0628\u062A\u0643\u0644\u0645\u0648\u0634\u0639\u0631"
       U"\u0628\u064A\u061F",
       "egbpdaj6bu4bxfgehfvwxn"},
      {"(B) Chinese (simplified)", U"\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587",
       "ihqwcrb4cv8a8dqg056pqjye"},
      {"(C) Chinese (traditional)", U"\u4ED6\u5011\u7232\u4EC0\u9EBD\u4E0D\u8AAA\u4E2D\u6587",
       "ihqwctvzc91f659drss3x8bo0yb"},
      {"(D) Czech", U"Pro\u010Dprost\u011Bnemluv\u00ED\u010Desky",
       "Proprostnemluvesky-uyb24dma41a"},
      {"(E) Hebrew",
       U"\u05DC\u05DE\u05D4\u05D4\u05DD\u05E4\u05E9\u05D5\u05D8\u05DC\u05D0\u05DE\u05D3\u05D1"
       U"\u05E8\u05D9\u05DD\u05E2\u05D1\u05E8\u05D9\u05EA",
       "4dbcagdahymbxekheh6e0a7fei0b"},
      {"(I) Russian (Cyrillic)",
       U"\u043F\u043E\u0447\u0435\u043C\u0443\u0436\u0435\u043E\u043D\u0438\u043D\u0435\u0433"
       U"\u043E\u0432\u043E\u0440\u044F\u0442\u043F\u043E\u0440\u0443\u0441\u0441\u043A\u0438",
       "b1abfaaepdrnnbgefbaDotcwatmq2g4l"},  // mixed-case annotation: decoders ignore case
      {"(J) Spanish", U"Porqu\u00E9nopuedensimplementehablarenEspa\u00F1ol",
       "PorqunopuedensimplementehablarenEspaol-fmd56a"},
      {"(L) 3<nen>B<gumi><kinpachi><sensei>", U"3\u5E74B\u7D44\u91D1\u516B\u5148\u751F",
       "3B-ww4c5e180e575a65lsy2b"},
      {"(M) <amuro><namie>-with-SUPER-MONKEYS",
       U"\u5B89\u5BA4\u5948\u7F8E\u6075-with-SUPER-MONKEYS",
       "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"},
      {"(N) Hello-Another-Way-<sorezore><no><basho>",
       U"Hello-Another-Way-\u305D\u308C\u305E\u308C\u306E\u5834\u6240",
       "Hello-Another-Way--fc4qua05auwb3674vfr0b"},
      {"(O) <hitotsu><yane><no><shita>2", U"\u3072\u3068\u3064\u5C4B\u6839\u306E\u4E0B2",
       "2-u9tlzr9756bt3uc0v"},
      {"(P) Maji<de>Koi<suru>5<byou><mae>", U"Maji\u3067Koi\u3059\u308B5\u79D2\u524D",
       "MajiKoi5-783gue6qz075azm5e"},
      {"(Q) <pafii>de<runba>", U"\u30D1\u30D5\u30A3\u30FCde\u30EB\u30F3\u30D0",
       "de-jg4avhby1noc0d"},
      {"(R) <sono><supiido><de>", U"\u305D\u306E\u30B9\u30D4\u30FC\u30C9\u3067", "d9juau41awczczp"},
      {"(S) -> $1.00 <-", U"-> $1.00 <-", "-> $1.00 <--"},
      {"bücher", U"b\u00FCcher", "bcher-kva"},
  };
  return samples;
}

TEST(Punycode, Rfc3492SampleStrings) {
  for (const Sample& s : Samples()) {
    util::Result<std::string> enc = PunycodeEncode(s.code_points);
    ASSERT_TRUE(enc.ok()) << s.name;
    // Our encoder never produces mixed-case annotations; compare case-insensitively.
    EXPECT_TRUE(util::EqualsIgnoreCase(*enc, s.encoded)) << s.name << ": " << *enc;
    util::Result<std::u32string> dec = PunycodeDecode(s.encoded);
    ASSERT_TRUE(dec.ok()) << s.name << ": " << dec.status().ToString();
    EXPECT_TRUE(*dec == s.code_points) << s.name;
  }
}

TEST(Punycode, DecodeIsCaseInsensitive) {
  EXPECT_EQ(EncodeUtf8(*PunycodeDecode("BCHER-KVA")), "BüCHER");
  EXPECT_EQ(EncodeUtf8(*PunycodeDecode("bcher-KVA")), "bücher");
}

TEST(Punycode, BadInput) {
  for (std::string_view bad :
       {"bcher-kv!", "zz", "99999999999", "bcher-kva9", "a\xc3\xbc-kva", "b\xff"}) {
    EXPECT_FALSE(PunycodeDecode(bad).ok()) << bad;
  }
  EXPECT_FALSE(PunycodeDecode(std::string(kMaxPunycodeInput + 1, 'a')).ok());
  EXPECT_FALSE(PunycodeEncode(std::u32string(kMaxPunycodeInput + 1, U'\u00e9')).ok());
  EXPECT_FALSE(PunycodeEncode(std::u32string(1, static_cast<char32_t>(0x110000))).ok());
  // Deltas that overflow 32 bits.
  EXPECT_FALSE(PunycodeDecode("-" + std::string(20, '9')).ok());
}

TEST(Punycode, RandomRoundTrip) {
  std::mt19937 rng(3492);
  std::uniform_int_distribution<int> len(1, 40);
  std::uniform_int_distribution<uint32_t> cp(0, 0x10FFFF);
  std::uniform_int_distribution<int> kind(0, 2);
  for (int iter = 0; iter < 2000; ++iter) {
    std::u32string s;
    int n = len(rng);
    for (int i = 0; i < n; ++i) {
      char32_t c;
      switch (kind(rng)) {
        case 0:
          c = U'a' + static_cast<char32_t>(cp(rng) % 26);
          break;
        case 1:
          c = 0x80 + cp(rng) % 0x800;
          break;
        default:
          do c = cp(rng);
          while (c >= 0xD800 && c <= 0xDFFF);
      }
      s.push_back(c);
    }
    util::Result<std::string> enc = PunycodeEncode(s);
    ASSERT_TRUE(enc.ok());
    util::Result<std::u32string> dec = PunycodeDecode(*enc);
    ASSERT_TRUE(dec.ok()) << *enc;
    ASSERT_TRUE(*dec == s) << *enc;
  }
}

TEST(Idna, DomainConversions) {
  EXPECT_EQ(*DomainToAscii("bücher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(*DomainToAscii("WWW.Bücher.Example"), "www.xn--bcher-kva.example");
  EXPECT_EQ(*DomainToAscii("例え.テスト"), "xn--r8jz45g.xn--zckzah");
  EXPECT_FALSE(DomainToAscii("a..b").ok());
  EXPECT_FALSE(DomainToAscii("b\xff.example").ok());
  EXPECT_EQ(*DomainToUnicode("www.xn--bcher-kva.example"), "www.bücher.example");
  EXPECT_EQ(*DomainToUnicode("XN--BCHER-KVA.example"), "bücher.example");
  EXPECT_FALSE(DomainToUnicode("xn--zz.example").ok());
  EXPECT_EQ(*LabelToAscii("ÄÖÜ"), "xn--7ba0bs");  // no Unicode case folding: as sent
}

TEST(Utf8, StrictDecoding) {
  EXPECT_EQ(*DecodeUtf8("aé€😀"), U"a\u00e9\u20ac\U0001F600");
  for (std::string_view bad : {"\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                               "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", "a\xc3("}) {
    EXPECT_FALSE(DecodeUtf8(bad)) << util::Printable(bad);
  }
  EXPECT_EQ(EncodeUtf8(U"a\u00e9\u20ac\U0001F600"), "aé€😀");
  EXPECT_EQ(EncodeUtf8(std::u32string(1, static_cast<char32_t>(0xD800))), "\xef\xbf\xbd");
}

}  // namespace
}  // namespace mailrelay::smtp
