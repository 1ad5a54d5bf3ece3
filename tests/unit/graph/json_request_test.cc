// The JSON form of sendMail (deliver-graph/json_request.h) from parsed messages.
#include "deliver-graph/json_request.h"

#include <gtest/gtest.h>

#include <string>

#include "common/json/json.h"
#include "common/util/base64.h"

namespace mailrelay::graph {
namespace {

json::Value Build(const std::string& message, const std::vector<std::string>& envelope,
                  std::vector<std::string>* notes = nullptr) {
  mime::ParsedMessage m = mime::ParseMessage(message);
  std::vector<agent::JobRecipient> env;
  for (size_t i = 0; i < envelope.size(); ++i) env.push_back({static_cast<int>(i), envelope[i]});
  std::string body = BuildJsonRequest(m, SplitRecipients(m.to, m.cc, env), notes);
  auto v = json::Parse(body);
  EXPECT_TRUE(v.ok()) << body;
  return v.ok() ? *v : json::Value();
}

TEST(JsonRequest, PlainTextWithEnvelopeRecipients) {
  auto v = Build(
      "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>, eve@example.com\r\n"
      "Reply-To: desk@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nImportance: High\r\n"
      "X-Ticket: T-1\r\nX-MS-Exchange-Organization-SCL: -1\r\nX-Ticket: T-2\r\n\r\nhello\r\n",
      {"bob@example.com", "hidden@example.net"});
  const json::Value& m = v["message"];
  EXPECT_EQ(v["saveToSentItems"].as_bool(true), false);
  EXPECT_EQ(m["subject"].as_string(), "Grüße");
  EXPECT_EQ(m["body"]["contentType"].as_string(), "Text");
  EXPECT_EQ(m["body"]["content"].as_string(), "hello\n");
  EXPECT_EQ(m["from"]["emailAddress"]["address"].as_string(), "alice@example.org");
  EXPECT_EQ(m["from"]["emailAddress"]["name"].as_string(), "Alice");
  ASSERT_EQ(m["toRecipients"].size(), 1u);
  EXPECT_EQ(m["toRecipients"][0]["emailAddress"]["address"].as_string(), "bob@example.com");
  EXPECT_EQ(m["toRecipients"][0]["emailAddress"]["name"].as_string(), "Bob");
  EXPECT_EQ(m.Find("ccRecipients"), nullptr);
  ASSERT_EQ(m["bccRecipients"].size(), 1u);
  EXPECT_EQ(m["bccRecipients"][0]["emailAddress"]["address"].as_string(), "hidden@example.net");
  EXPECT_EQ(m["replyTo"][0]["emailAddress"]["address"].as_string(), "desk@example.org");
  EXPECT_EQ(m["importance"].as_string(), "high");
  ASSERT_EQ(m["internetMessageHeaders"].size(), 1u);  // X-MS-Exchange-* and the repeat are left out
  EXPECT_EQ(m["internetMessageHeaders"][0]["name"].as_string(), "X-Ticket");
  EXPECT_EQ(m["internetMessageHeaders"][0]["value"].as_string(), "T-1");
  EXPECT_EQ(v.Serialize().find("eve@"), std::string::npos);
}

TEST(JsonRequest, HtmlWinsAndAttachmentsAndInlineImages) {
  std::string msg =
      "From: a@example.org\r\nTo: b@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
      "--outer\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n"
      "--rel\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
      "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n"
      "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<img "
      "src=\"cid:logo@x\">\r\n--alt--\r\n"
      "--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: "
      "base64\r\n\r\n"
      "iVBORw0K\r\n--rel--\r\n"
      "--outer\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: "
      "attachment; "
      "filename=\"report.pdf\"\r\nContent-Transfer-Encoding: "
      "base64\r\n\r\nJVBERi0xLjQK\r\n--outer--\r\n";
  std::vector<std::string> notes;
  auto v = Build(msg, {"b@example.com"}, &notes);
  const json::Value& m = v["message"];
  EXPECT_EQ(m["body"]["contentType"].as_string(), "HTML");
  // The CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1).
  EXPECT_EQ(m["body"]["content"].as_string(), "<img src=\"cid:logo@x\">");
  EXPECT_FALSE(notes.empty());  // the text alternative was dropped, and the log says so
  ASSERT_EQ(m["attachments"].size(), 2u);
  const json::Value& img = m["attachments"][0];
  EXPECT_EQ(img["@odata.type"].as_string(), "#microsoft.graph.fileAttachment");
  EXPECT_EQ(img["name"].as_string(), "attachment-1.png");
  EXPECT_EQ(img["contentType"].as_string(), "image/png");
  EXPECT_EQ(img["contentId"].as_string(), "logo@x");
  EXPECT_TRUE(img["isInline"].as_bool(false));
  EXPECT_EQ(*util::Base64Decode(img["contentBytes"].as_string()), *util::Base64Decode("iVBORw0K"));
  const json::Value& pdf = m["attachments"][1];
  EXPECT_EQ(pdf["name"].as_string(), "report.pdf");
  EXPECT_FALSE(pdf["isInline"].as_bool(true));
  EXPECT_EQ(pdf.Find("contentId"), nullptr);
  EXPECT_EQ(*util::Base64Decode(pdf["contentBytes"].as_string()), "%PDF-1.4\n");
}

TEST(JsonRequest, EmptyMessageStillHasABodyAndSubject) {
  auto v = Build("To: b@example.com\r\n\r\n", {"b@example.com"});
  EXPECT_EQ(v["message"]["subject"].as_string(), "");
  EXPECT_EQ(v["message"]["body"]["contentType"].as_string(), "Text");
  EXPECT_EQ(v["message"]["body"]["content"].as_string(), "");
  EXPECT_EQ(v["message"].Find("attachments"), nullptr);
}

TEST(JsonRequest, NamesAndPassableHeaders) {
  EXPECT_EQ(MadeUpAttachmentName(3, "application/pdf"), "attachment-3.pdf");
  EXPECT_EQ(MadeUpAttachmentName(1, "application/x-unknown"), "attachment-1.bin");
  EXPECT_TRUE(IsPassableHeader("X-Mailer"));
  EXPECT_TRUE(IsPassableHeader("x-correlation-id"));
  EXPECT_FALSE(IsPassableHeader("X-MS-Exchange-Organization-SCL"));
  EXPECT_FALSE(IsPassableHeader("Importance"));
  EXPECT_FALSE(IsPassableHeader("X-"));
}

}  // namespace
}  // namespace mailrelay::graph
