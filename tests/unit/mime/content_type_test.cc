#include "common/mime/content_type.h"

#include <gtest/gtest.h>

namespace mailrelay::mime {
namespace {

TEST(ContentType, TypeSubtypeAndParameters) {
  ContentType ct = ParseContentType("Text/HTML; Charset=\"UTF-8\"; format=flowed");
  EXPECT_TRUE(ct.valid);
  EXPECT_EQ(ct.MimeType(), "text/html");
  ASSERT_EQ(ct.params.items.size(), 2u);
  EXPECT_EQ(ct.params.items[0].name, "charset");
  EXPECT_EQ(*ct.params.Get("CHARSET"), "UTF-8");  // values keep their case
  EXPECT_EQ(*ct.params.Get("format"), "flowed");
  EXPECT_EQ(ct.params.Get("name"), nullptr);
}

TEST(ContentType, QuotedStringsCommentsAndWhitespace) {
  ContentType ct = ParseContentType(
      "multipart/mixed (a comment); boundary=\"a;b=c\\\"d\" (another); x = y ;  z=(c)w");
  EXPECT_EQ(ct.MimeType(), "multipart/mixed");
  EXPECT_EQ(*ct.params.Get("boundary"), "a;b=c\"d");
  EXPECT_EQ(*ct.params.Get("x"), "y");
  EXPECT_EQ(*ct.params.Get("z"), "w");
  ct = ParseContentType("text/plain; charset=us-ascii (Plain text)");
  EXPECT_EQ(*ct.params.Get("charset"), "us-ascii");
  ct = ParseContentType("text / plain ;");
  EXPECT_EQ(ct.MimeType(), "text/plain");
}

TEST(ContentType, InvalidValuesFallBack) {
  for (const char* bad : {"", "text", "/plain", "text/", "te xt/plain", "text/pl@in", ";;;"}) {
    ContentType ct = ParseContentType(bad);
    EXPECT_FALSE(ct.valid) << bad;
    EXPECT_EQ(ct.MimeType(), "text/plain") << bad;
  }
}

TEST(ContentType, BrokenParametersAreSkippedNotFatal) {
  ContentType ct = ParseContentType("text/plain; junk; =novalue; a=\"unterminated");
  EXPECT_TRUE(ct.valid);
  EXPECT_EQ(*ct.params.Get("a"), "unterminated");
  EXPECT_EQ(ct.params.items.size(), 1u);
  ct = ParseContentType("application/pdf; name=my file.pdf");  // unquoted spaces
  EXPECT_EQ(*ct.params.Get("name"), "my file.pdf");
  ct = ParseContentType("text/plain; charset=a; charset=b");  // first wins
  EXPECT_EQ(*ct.params.Get("charset"), "a");
}

TEST(Rfc2231, CharsetLanguageAndPercentEncoding) {
  ContentDisposition cd =
      ParseContentDisposition("attachment; filename*=UTF-8''%C3%9Cberweisung%20Q2%20%E2%80%93.pdf");
  EXPECT_EQ(cd.type, "attachment");
  EXPECT_EQ(*cd.params.Get("filename"),
            "\xc3\x9c"
            "berweisung Q2 \xe2\x80\x93.pdf");
  cd = ParseContentDisposition("attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt");
  EXPECT_EQ(*cd.params.Get("filename"),
            "Gr\xc3\xbc\xc3\x9f"
            "e.txt");
  cd = ParseContentDisposition("attachment; filename*=''plain%20name");  // no charset
  EXPECT_EQ(*cd.params.Get("filename"), "plain name");
  cd = ParseContentDisposition("attachment; filename*=\"utf-8''a%2\"");  // bad escape kept
  EXPECT_EQ(*cd.params.Get("filename"), "a%2");
}

TEST(Rfc2231, ContinuationsInAnyOrderMixedWithPlainSections) {
  ContentDisposition cd = ParseContentDisposition(
      "attachment; filename*1*=%C3%A9t%C3%A9; filename*0*=UTF-8'en'R%C3%A9sum%C3%A9-; "
      "filename*2=\".pdf\"");
  EXPECT_EQ(*cd.params.Get("filename"), "R\xc3\xa9sum\xc3\xa9-\xc3\xa9t\xc3\xa9.pdf");
  cd = ParseContentDisposition("inline; name*0=\"long \"; name*1=\"name.txt\"");
  EXPECT_EQ(*cd.params.Get("name"), "long name.txt");
  // The RFC 2231 form wins over the plain one, wherever it stands.
  cd = ParseContentDisposition("attachment; filename=\"fallback.pdf\"; filename*=utf-8''real.pdf");
  EXPECT_EQ(*cd.params.Get("filename"), "real.pdf");
  EXPECT_EQ(cd.params.items.size(), 1u);
  // Absurd section numbers are not continuations.
  cd = ParseContentDisposition("attachment; f*99999999999999999999=x");
  EXPECT_EQ(cd.params.Get("f"), nullptr);
}

TEST(Rfc2047InParameters, QuotedEncodedWordsAreDecoded) {
  ContentType ct = ParseContentType(
      "application/vnd.ms-excel; name=\"=?UTF-8?B?w5xtc2F0el8yMDI3X2Fvw7t0Lnhsc3g=?=\"");
  EXPECT_EQ(*ct.params.Get("name"), "\xc3\x9cmsatz_2027_ao\xc3\xbbt.xlsx");
  ContentDisposition cd =
      ParseContentDisposition("attachment; filename=\"=?iso-8859-1?Q?r=E9sum=E9?= 2.doc\"");
  EXPECT_EQ(*cd.params.Get("filename"), "r\xc3\xa9sum\xc3\xa9 2.doc");
  // Raw 8-bit values are taken as UTF-8 when valid, else windows-1252.
  cd = ParseContentDisposition("attachment; filename=\"caf\xe9.txt\"");
  EXPECT_EQ(*cd.params.Get("filename"), "caf\xc3\xa9.txt");
}

TEST(Rfc2047InParameters, BoundaryIsNeverDecoded) {
  ContentType ct = ParseContentType("multipart/mixed; boundary=\"=?utf-8?q?x?=\xff\"");
  EXPECT_EQ(*ct.params.Get("boundary"), "=?utf-8?q?x?=\xff");
}

TEST(ContentDisposition, TypeIsLowercasedAndMayBeMissing) {
  EXPECT_EQ(ParseContentDisposition("INLINE").type, "inline");
  EXPECT_EQ(ParseContentDisposition("; filename=a").type, "");
  EXPECT_EQ(*ParseContentDisposition("; filename=a").params.Get("filename"), "a");
}

TEST(Parameters, ManyParametersStayLinear) {
  std::string v = "text/plain";
  for (int i = 0; i < 20000; ++i)
    v += "; p" + std::to_string(i) + "*" + std::to_string(i % 7) + "=x";
  ContentType ct = ParseContentType(v);
  EXPECT_TRUE(ct.valid);
  EXPECT_LE(ct.params.items.size(), 1000u);
}

}  // namespace
}  // namespace mailrelay::mime
