#include "common/mime/parser.h"

#include <chrono>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "common/mime/charset.h"
#include "common/util/base64.h"

namespace mailrelay::mime {
namespace {

std::string Crlf(std::string_view lf) {
  std::string out;
  for (char c : lf) {
    if (c == '\n')
      out += "\r\n";
    else
      out.push_back(c);
  }
  return out;
}

TEST(Parser, MessageWithoutMimeHeadersIsPlainText) {
  ParsedMessage m = ParseMessage(Crlf("From: a@b.example\nSubject: hi\n\nline 1\nline 2\n"));
  EXPECT_EQ(m.subject, "hi");
  EXPECT_EQ(m.text, "line 1\nline 2\n");
  EXPECT_EQ(m.html, std::nullopt);
  EXPECT_TRUE(m.attachments.empty());
  EXPECT_EQ(DescribeTree(m.tree), "text/plain");
}

TEST(Parser, LfOnlyInputWorksToo) {
  ParsedMessage m = ParseMessage(
      "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
      "plain\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b--\n");
  EXPECT_EQ(m.text, "plain");
  EXPECT_EQ(m.html, "<p>html</p>");
}

TEST(Parser, HeadersOnlyAndEmptyInput) {
  ParsedMessage m = ParseMessage("Subject: no body at all");
  EXPECT_EQ(m.subject, "no body at all");
  EXPECT_EQ(m.text, "");
  m = ParseMessage("");
  EXPECT_EQ(m.subject, std::nullopt);
  EXPECT_EQ(m.text, "");
  EXPECT_TRUE(m.from.empty());
}

TEST(Parser, PreambleEpilogueAndTransportPadding) {
  ParsedMessage m = ParseMessage(
      Crlf("Content-Type: multipart/mixed; boundary=\"xyz\"\n\npreamble\n--xyz  \n\nfirst\n"
           "--xyz\t\nContent-Type: text/plain; name=a.txt\nContent-Disposition: attachment\n\n"
           "second\n--xyz--  \nepilogue\n--xyz\n\nnot a part\n"));
  EXPECT_EQ(m.text, "first");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].data, "second");
  EXPECT_EQ(m.attachments[0].filename, "a.txt");
  EXPECT_TRUE(m.tree.defects.empty());
}

TEST(Parser, BoundaryMustMatchTheWholeLine) {
  // "--abc" is a prefix of the inner boundary and of other lines; neither may split.
  ParsedMessage m = ParseMessage(
      Crlf("Content-Type: multipart/mixed; boundary=abc\n\n--abc\n"
           "Content-Type: multipart/alternative; boundary=abcdef\n\n--abcdef\n\ninner text\n"
           "--abc-not-a-boundary\n--abcdef\nContent-Type: text/html\n\n<b>x</b>\n--abcdef--\n"
           "--abc--\n"));
  EXPECT_EQ(DescribeTree(m.tree), "multipart/mixed(multipart/alternative(text/plain,text/html))");
  EXPECT_EQ(m.text, "inner text\n--abc-not-a-boundary");
  EXPECT_EQ(m.html, "<b>x</b>");
}

TEST(Parser, MissingCloseDelimiterEndsAtEndOfInput) {
  ParsedMessage m = ParseMessage(
      Crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nbody\n--b\n"
           "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n"));
  EXPECT_EQ(m.text, "body");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].data, std::string("\x00\x01\x02", 3));
  ASSERT_EQ(m.tree.defects.size(), 1u);
}

TEST(Parser, BrokenMultipartsDegradeToText) {
  ParsedMessage m = ParseMessage(Crlf("Content-Type: multipart/mixed\n\nno boundary here\n"));
  EXPECT_EQ(m.text, "no boundary here\n");
  EXPECT_FALSE(m.tree.defects.empty());
  m = ParseMessage(Crlf("Content-Type: multipart/mixed; boundary=zz\n\n--other\n\nbody\n"));
  EXPECT_EQ(m.text, "--other\n\nbody\n");
  m = ParseMessage(Crlf("Content-Type: multipart/mixed; boundary=\"\"\n\nx\n"));
  EXPECT_EQ(m.text, "x\n");
}

TEST(Parser, PartWithoutEmptyLineBeforeItsBody) {
  ParsedMessage m = ParseMessage(
      Crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nno header, no empty line\nsecond\n"
           "--b\nContent-Type: text/html\n<p>html right after its header</p>\n--b--\n"));
  EXPECT_EQ(m.text, "no header, no empty line\nsecond");
  EXPECT_EQ(m.html, "<p>html right after its header</p>");
  // The message itself is cut at its first empty line only: the editor sees the same fields.
  m = ParseMessage(Crlf("Subject: s\nnot a field\nBcc: hidden@x.example\n\nbody\n"));
  EXPECT_EQ(m.bcc.size(), 1u);
  EXPECT_EQ(m.text, "body\n");
}

TEST(Parser, InvalidContentTypeMeansTextPlain) {
  ParsedMessage m = ParseMessage(Crlf("Content-Type: garbage\n\nhello\n"));
  EXPECT_EQ(m.text, "hello\n");
  m = ParseMessage(Crlf("Content-Type: text/plain; charset=\"x-no-such\"\n\ncaf\xe9\n"));
  EXPECT_EQ(m.text, "caf\xc3\xa9\n");
}

TEST(Parser, BodySelectionSkipsAttachmentsAndFollowsRelatedRoot) {
  ParsedMessage m = ParseMessage(Crlf(
      "Content-Type: multipart/mixed; boundary=m\n\n"
      "--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=log.txt\n\nlog\n"
      "--m\nContent-Type: multipart/related; boundary=r; start=\"<root@x>\"\n\n"
      "--r\nContent-Type: text/html\nContent-ID: <notroot@x>\n\n<p>not the root</p>\n"
      "--r\nContent-Type: multipart/alternative; boundary=a\nContent-ID: <root@x>\n\n"
      "--a\nContent-Type: text/plain\n\nthe text\n--a\nContent-Type: text/html\n\n<p>root</p>\n"
      "--a--\n--r\nContent-Type: image/png\nContent-ID: <img@x>\n"
      "Content-Transfer-Encoding: base64\n\niVBORw==\n--r--\n"
      "--m\nContent-Type: text/plain\nContent-Disposition: inline\n\nlater text\n--m--\n"));
  EXPECT_EQ(m.text, "the text");
  EXPECT_EQ(m.html, "<p>root</p>");
  ASSERT_EQ(m.attachments.size(), 4u);
  EXPECT_EQ(m.attachments[0].filename, "log.txt");
  EXPECT_EQ(m.attachments[0].disposition, "attachment");
  EXPECT_EQ(m.attachments[1].content_type, "text/html");  // not the related root
  EXPECT_TRUE(m.attachments[1].is_inline);
  EXPECT_EQ(m.attachments[2].content_type, "image/png");
  EXPECT_TRUE(m.attachments[2].is_inline);
  EXPECT_EQ(m.attachments[2].content_id, "img@x");
  EXPECT_EQ(m.attachments[2].data, "\x89PNG");
  EXPECT_EQ(m.attachments[3].data, "later text");  // only the first text/plain is the body
  EXPECT_FALSE(m.attachments[3].is_inline);
}

TEST(Parser, RelatedWithoutStartUsesFirstPart) {
  ParsedMessage m = ParseMessage(Crlf(
      "Content-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n<i>a</i>\n"
      "--r\nContent-Type: text/plain\n\nnot a body: related only offers its root\n--r--\n"));
  EXPECT_EQ(m.html, "<i>a</i>");
  EXPECT_EQ(m.text, std::nullopt);
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_FALSE(m.attachments[0].is_inline);  // no Content-ID
}

TEST(Parser, EmbeddedMessagesAreNeverEntered) {
  std::string inner = Crlf("From: inner@x\nSubject: inner\n\ninner body\n");
  ParsedMessage m =
      ParseMessage(Crlf("Subject: outer\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
                        "Content-Type: message/rfc822\n\n") +
                   inner + Crlf("\n--b--\n"));
  EXPECT_EQ(m.subject, "outer");
  EXPECT_EQ(m.text, std::nullopt);
  EXPECT_TRUE(m.from.empty());
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].content_type, "message/rfc822");
  EXPECT_EQ(m.attachments[0].data, inner);
  EXPECT_EQ(m.attachments[0].filename, std::nullopt);
}

TEST(Parser, DigestPartsDefaultToMessageRfc822) {
  ParsedMessage m = ParseMessage(
      Crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nx\n--d--\n"));
  EXPECT_EQ(DescribeTree(m.tree), "multipart/digest(message/rfc822)");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].data, Crlf("Subject: one\n\nx"));
}

TEST(Parser, EmptyPartsAndFilenamePrecedence) {
  ParsedMessage m =
      ParseMessage(Crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n"
                        "Content-Type: application/pdf; name=\"ct-name.pdf\"\n"
                        "Content-Disposition: attachment; filename=\"cd-name.pdf\"\n\n%PDF\n"
                        "--b\nContent-Type: application/pdf; name=\"only-name.pdf\"\n\n%PDF\n"
                        "--b\nContent-Type: Application/PDF; name=\"\"; Foo=Bar; boundary=x\n"
                        "Content-Transfer-Encoding: BASE64\n\nJVBERg==\n--b--\n"));
  EXPECT_EQ(m.text, "");  // the empty first part is a text/plain body
  ASSERT_EQ(m.attachments.size(), 3u);
  EXPECT_EQ(m.attachments[0].filename, "cd-name.pdf");
  EXPECT_EQ(m.attachments[1].filename, "only-name.pdf");
  EXPECT_EQ(m.attachments[1].disposition, std::nullopt);
  EXPECT_EQ(m.attachments[2].filename, std::nullopt);
  EXPECT_EQ(m.attachments[2].content_type, "application/pdf");
  ASSERT_EQ(m.attachments[2].params.size(), 1u);
  EXPECT_EQ(m.attachments[2].params[0].name, "foo");
  EXPECT_EQ(m.attachments[2].params[0].value, "Bar");
  EXPECT_EQ(m.attachments[2].transfer_encoding, "base64");
  EXPECT_EQ(m.attachments[2].data, "%PDF");
}

TEST(Parser, WholeMessageAttachment) {
  ParsedMessage m =
      ParseMessage(Crlf("Content-Type: text/html\nContent-Disposition: attachment; "
                        "filename=page.html\n\n<p>x</p>\n"));
  EXPECT_EQ(m.html, std::nullopt);
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].part, 0);
  EXPECT_EQ(m.attachments[0].data, Crlf("<p>x</p>\n"));
}

TEST(Parser, HeadersOfTheMessage) {
  ParsedMessage m = ParseMessage(Crlf(
      "From: A <a@x.example>\nTo: b@x.example\nTo: c@x.example\nCc: \nBcc: d@x.example\n"
      "Reply-To: r@x.example\nSubject: =?utf-8?q?caf=C3=A9?=\n  and more\nDate:  Mon, 1 Jan 2024\n"
      "Message-ID: <id@x>\nX-Mailer: test\nList-Unsubscribe: <mailto:u@x>\n"
      "Content-Language: en\nReceived: from x\nResent-From: y@x\n\n"));
  EXPECT_EQ(m.subject, "caf\xc3\xa9  and more");
  EXPECT_EQ(m.date, "Mon, 1 Jan 2024");
  EXPECT_EQ(m.message_id, "<id@x>");
  EXPECT_EQ(m.from, (std::vector<Mailbox>{{"A", "a@x.example"}}));
  EXPECT_EQ(m.to, (std::vector<Mailbox>{{"", "b@x.example"}, {"", "c@x.example"}}));
  EXPECT_TRUE(m.cc.empty());
  EXPECT_EQ(m.bcc.size(), 1u);
  EXPECT_EQ(m.reply_to.size(), 1u);
  ASSERT_EQ(m.custom_headers.size(), 2u);
  EXPECT_EQ(m.custom_headers[0], (std::pair<std::string, std::string>{"X-Mailer", "test"}));
  EXPECT_EQ(m.custom_headers[1].first, "List-Unsubscribe");
  EXPECT_TRUE(IsStandardField("dkim-signature"));
  EXPECT_TRUE(IsStandardField("Content-Whatever"));
  EXPECT_FALSE(IsStandardField("Importance"));
  EXPECT_FALSE(IsStandardField("X-From"));
}

TEST(Parser, TextBodiesAreUtf8WithLfLineEnds) {
  ParsedMessage m =
      ParseMessage(Crlf("Content-Type: text/plain; "
                        "charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n"
                        "\n=93quoted=94 =80 lo=\nng\nbare\rcr\n"));
  EXPECT_EQ(m.text, "\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x82\xac long\nbare\rcr\n");
}

TEST(Limits, NestingDepthIsBounded) {
  std::string m;
  const int kLevels = 200;
  for (int i = 0; i < kLevels; ++i) {
    m += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" +
         std::to_string(i) + "\r\n";
  }
  m += "Content-Type: text/plain\r\n\r\ndeep\r\n";
  for (int i = kLevels - 1; i >= 0; --i) m += "--b" + std::to_string(i) + "--\r\n";
  ParsedMessage pm = ParseMessage(m);
  int max_depth = 0;
  for (const Entity& e : pm.tree.entities) max_depth = std::max(max_depth, e.depth);
  EXPECT_EQ(max_depth, 32);
  EXPECT_EQ(pm.text, std::nullopt);  // the text sits below the cut
  ASSERT_EQ(pm.attachments.size(), 1u);
  EXPECT_EQ(pm.attachments[0].content_type, "application/octet-stream");
  EXPECT_FALSE(pm.tree.defects.empty());

  ParseLimits small;
  small.max_depth = 2;
  pm = ParseMessage(m, small);
  EXPECT_EQ(DescribeTree(pm.tree), "multipart/mixed(multipart/mixed(application/octet-stream))");
}

TEST(Limits, PartCountIsBounded) {
  std::string m = "Content-Type: multipart/mixed; boundary=p\r\n\r\n";
  for (int i = 0; i < 5000; ++i) m += "--p\r\nContent-Type: application/x-a\r\n\r\nx\r\n";
  m += "--p--\r\n";
  ParsedMessage pm = ParseMessage(m);
  EXPECT_EQ(pm.tree.entities.size(), 1000u);
  EXPECT_EQ(pm.attachments.size(), 999u);
  EXPECT_FALSE(pm.tree.defects.empty());
}

TEST(Limits, FourMegabytesParseInMilliseconds) {
  std::string blob;
  for (size_t i = 0; i < 3 * 1024 * 1024; ++i) blob.push_back(static_cast<char>((i * 7919) >> 3));
  std::string b64 = util::Base64Encode(blob), wrapped;
  for (size_t i = 0; i < b64.size(); i += 76) wrapped += b64.substr(i, 76) + "\r\n";
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "Gr=C3=BC=C3=9Fe aus K=C3=B6ln, eine lange Zeile mit Text=\r\n und mehr\r\n";
  std::string m =
      Crlf(
          "From: a@x.example\nSubject: big\nContent-Type: multipart/mixed; boundary=big\n\n--big\n"
          "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: "
          "quoted-printable\n\n") +
      text + Crlf("--big\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\n") +
      wrapped + "--big--\r\n";
  ASSERT_GT(m.size(), 4u * 1000 * 1000);
  auto start = std::chrono::steady_clock::now();
  ParsedMessage pm = ParseMessage(m);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  ASSERT_EQ(pm.attachments.size(), 1u);
  EXPECT_EQ(pm.attachments[0].data, blob);
  EXPECT_TRUE(IsValidUtf8(*pm.text));
  // Milliseconds in a release build; the bound leaves room for ASan/UBSan and a busy box.
  EXPECT_LT(ms, 3000) << "parsing " << m.size() << " bytes took " << ms << " ms";
  std::printf("4 MB message parsed in %lld ms\n", static_cast<long long>(ms));
}

TEST(Limits, HostileBoundaryLinesStayLinear) {
  // 32 nested multiparts whose innermost body is 2 MB of lines that look like delimiters.
  std::string m;
  for (int i = 0; i < 32; ++i) {
    m += "Content-Type: multipart/mixed; boundary=q" + std::to_string(i) + "\r\n\r\n--q" +
         std::to_string(i) + "\r\n";
  }
  m += "\r\n";
  for (int i = 0; i < 200000; ++i) m += "--q1x\r\n--\r\n";
  auto start = std::chrono::steady_clock::now();
  ParsedMessage pm = ParseMessage(m);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  EXPECT_LT(ms, 5000);
  EXPECT_LE(pm.tree.entities.size(), 1000u);
}

}  // namespace
}  // namespace mailrelay::mime
