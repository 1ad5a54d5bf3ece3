#include "common/mime/transfer.h"

#include <gtest/gtest.h>

namespace mailrelay::mime {
namespace {

TEST(Base64, WellFormedAndWrapped) {
  EXPECT_EQ(DecodeBase64(""), "");
  EXPECT_EQ(DecodeBase64("Zm9vYmFy"), "foobar");
  EXPECT_EQ(DecodeBase64("Zm9v\r\nYmE=\r\n"), "fooba");
  EXPECT_EQ(DecodeBase64(" Zm 9v\tYg== "), "foob");
  EXPECT_EQ(DecodeBase64("Zm8"), "fo");  // padding optional
}

TEST(Base64, DamagedInputDecodesAsFarAsPossible) {
  EXPECT_EQ(DecodeBase64("Zm9v!YmFy"), "foobar");  // stray characters skipped
  EXPECT_EQ(DecodeBase64("Zm9v-_YmFy\x01\xff"), "foobar");
  EXPECT_EQ(DecodeBase64("Zg==Zm8="), "ffo");  // concatenated blobs
  EXPECT_EQ(DecodeBase64("Zm9vY"), "foo");     // dangling sextet dropped
  EXPECT_EQ(DecodeBase64("===="), "");
  EXPECT_EQ(DecodeBase64("Zm9v====YmFy"), "foobar");
}

TEST(Base64, AllBytesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  // Base64 of bytes 0..255, wrapped at 76 like a MIME body.
  std::string enc =
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n"
      "OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3Bx\r\n"
      "cnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmq\r\n"
      "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj\r\n"
      "5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\r\n";
  EXPECT_EQ(DecodeBase64(enc), all);
}

TEST(QuotedPrintable, EscapesSoftBreaksAndLineEnds) {
  EXPECT_EQ(DecodeQuotedPrintable("a=3Db=20\r\n"), "a=b \r\n");
  EXPECT_EQ(DecodeQuotedPrintable("Gr=C3=BC=C3=9Fe"),
            "Gr\xc3\xbc\xc3\x9f"
            "e");
  EXPECT_EQ(DecodeQuotedPrintable("lo=\r\nng line\r\nnext"), "long line\r\nnext");
  EXPECT_EQ(DecodeQuotedPrintable("lo=\nng\n"), "long\n");  // LF-only input
  EXPECT_EQ(DecodeQuotedPrintable("=e4=F6"), "\xe4\xf6");   // lowercase hex accepted
  EXPECT_EQ(DecodeQuotedPrintable("\ttab kept\r\n"), "\ttab kept\r\n");
}

TEST(QuotedPrintable, TransportPaddingIsRemoved) {
  EXPECT_EQ(DecodeQuotedPrintable("trailing   \r\nx"), "trailing\r\nx");
  EXPECT_EQ(DecodeQuotedPrintable("keep  =20\r\n"), "keep   \r\n");
  EXPECT_EQ(DecodeQuotedPrintable("soft= \t\r\nbreak"), "softbreak");
}

TEST(QuotedPrintable, MalformedEscapesAreLiteral) {
  EXPECT_EQ(DecodeQuotedPrintable("a=ZZb"), "a=ZZb");
  EXPECT_EQ(DecodeQuotedPrintable("100% =3 ok"), "100% =3 ok");
  EXPECT_EQ(DecodeQuotedPrintable("=4"), "=4");   // truncated escape at the end
  EXPECT_EQ(DecodeQuotedPrintable("x=="), "x=");  // last '=' is a soft break
  EXPECT_EQ(DecodeQuotedPrintable("="), "");
  EXPECT_EQ(DecodeQuotedPrintable("a\rb"), "a\rb");  // bare CR is data
}

TEST(TransferEncoding, Dispatch) {
  EXPECT_EQ(DecodeTransferEncoding("Zm9v", "BASE64"), "foo");
  EXPECT_EQ(DecodeTransferEncoding("a=3D", " Quoted-Printable "), "a=");
  EXPECT_EQ(DecodeTransferEncoding("a=3D", "7bit"), "a=3D");
  EXPECT_EQ(DecodeTransferEncoding("\x01\xff", "binary"), "\x01\xff");
  EXPECT_EQ(DecodeTransferEncoding("Zm9v", "x-uuencode"), "Zm9v");  // unknown: as is
  EXPECT_EQ(DecodeTransferEncoding("Zm9v", ""), "Zm9v");
}

}  // namespace
}  // namespace mailrelay::mime
