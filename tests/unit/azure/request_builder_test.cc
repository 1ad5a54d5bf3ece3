// deliver-azure's MIME -> ACS JSON: hand-made messages for each rule, then every message of
// the MIME corpus (tests/data/mime) built into a request and compared with manifest.json.

#include "deliver-azure/request_builder.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/json/json.h"
#include "common/mime/parser.h"
#include "common/util/base64.h"
#include "common/util/crypto.h"
#include "common/util/file.h"
#include "common/util/strings.h"
#include "deliver-azure/recipients.h"

namespace mailrelay::azure {
namespace {

const std::string kCorpusDir = std::string(MAILRELAY_TESTDATA_DIR) + "/mime/";

RequestOptions Options(std::string api_version = "2025-09-01") {
  RequestOptions o;
  o.sender = "DoNotReply@relay.example.com";
  o.api_version = std::move(api_version);
  return o;
}

std::vector<agent::JobRecipient> Envelope(const std::vector<std::string>& addresses) {
  std::vector<agent::JobRecipient> out;
  for (size_t i = 0; i < addresses.size(); ++i) out.push_back({static_cast<int>(i), addresses[i]});
  return out;
}

// The request for `message` with `envelope`, parsed back.
json::Value Build(const std::string& message, const std::vector<std::string>& envelope,
                  const RequestOptions& options = Options()) {
  mime::ParsedMessage pm = mime::ParseMessage(message);
  auto batches = SplitIntoBatches(ClassifyRecipients(pm.to, pm.cc, Envelope(envelope)));
  EXPECT_EQ(batches.size(), 1u);
  std::string body = BuildRequestBody(BuildMessageParts(pm, options), batches.at(0), options);
  auto v = json::Parse(body);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : json::Value();
}

std::vector<std::string> Addresses(const json::Value& list) {
  std::vector<std::string> out;
  for (const json::Value& a : list.as_array()) out.push_back(a["address"].as_string());
  return out;
}

TEST(RequestBuilder, PlainTextMessage) {
  json::Value v = Build(
      "Received: from x by relay\r\nFrom: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
      "Subject: hello\r\nMessage-ID: <1@x>\r\n\r\nline one\r\nline two\r\n",
      {"bob@example.com"});
  EXPECT_EQ(v["senderAddress"].as_string(), "DoNotReply@relay.example.com");
  EXPECT_EQ(v["content"]["subject"].as_string(), "hello");
  EXPECT_EQ(v["content"]["plainText"].as_string(), "line one\nline two\n");
  EXPECT_EQ(v["content"].Find("html"), nullptr);
  EXPECT_EQ(v["recipients"]["to"][0]["address"].as_string(), "bob@example.com");
  EXPECT_EQ(v["recipients"]["to"][0]["displayName"].as_string(), "Bob");
  EXPECT_EQ(v["recipients"].Find("cc"), nullptr);
  EXPECT_EQ(v["recipients"].Find("bcc"), nullptr);
  // The original From becomes the Reply-To.
  ASSERT_EQ(v["replyTo"].size(), 1u);
  EXPECT_EQ(v["replyTo"][0]["address"].as_string(), "alice@example.org");
  EXPECT_EQ(v["replyTo"][0]["displayName"].as_string(), "Alice");
  EXPECT_TRUE(v["userEngagementTrackingDisabled"].as_bool(false));
  EXPECT_EQ(v.Find("attachments"), nullptr);
  EXPECT_EQ(v.Find("headers"), nullptr);
}

TEST(RequestBuilder, ExistingReplyToIsKeptAndFromIsNotAdded) {
  json::Value v = Build("From: a@example.org\r\nReply-To: Desk <desk@example.org>\r\nTo: b@example.com\r\n"
                        "Subject: s\r\n\r\nx\r\n",
                        {"b@example.com"});
  EXPECT_EQ(Addresses(v["replyTo"]), std::vector<std::string>{"desk@example.org"});
}

TEST(RequestBuilder, NoFromFallsBackToEnvelopeSenderAndNullSenderGetsNone) {
  RequestOptions o = Options();
  o.envelope_sender = "bounce@example.org";
  json::Value v = Build("To: b@example.com\r\nSubject: s\r\n\r\nx\r\n", {"b@example.com"}, o);
  EXPECT_EQ(Addresses(v["replyTo"]), std::vector<std::string>{"bounce@example.org"});
  o.envelope_sender = "";
  v = Build("To: b@example.com\r\nSubject: s\r\n\r\nx\r\n", {"b@example.com"}, o);
  EXPECT_EQ(v.Find("replyTo"), nullptr);
}

TEST(RequestBuilder, EngagementTrackingOption) {
  RequestOptions o = Options();
  o.engagement_tracking = true;
  json::Value v = Build("Subject: s\r\n\r\nx\r\n", {"b@example.com"}, o);
  EXPECT_FALSE(v["userEngagementTrackingDisabled"].as_bool(true));
}

TEST(RequestBuilder, NoBodyAtAllSendsEmptyPlainText) {
  json::Value v = Build(
      "Subject: scan\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=s.pdf\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n",
      {"b@example.com"});
  EXPECT_EQ(v["content"]["plainText"].as_string(), "");
  ASSERT_EQ(v["attachments"].size(), 1u);
  EXPECT_EQ(v["attachments"][0]["name"].as_string(), "s.pdf");
  EXPECT_EQ(v["attachments"][0]["contentType"].as_string(), "application/pdf");
  EXPECT_EQ(*util::Base64Decode(v["attachments"][0]["contentInBase64"].as_string()), "%PDF-1.4\n");
}

TEST(RequestBuilder, OnlyXHeadersExceptXMsArePassed) {
  json::Value v = Build(
      "Subject: s\r\nX-Mailer: m/1\r\nX-MS-Exchange-Organization-SCL: 1\r\nx-ms-acsemail-suppress-invalid-attachment: "
      "true\r\nImportance: high\r\nX-Mailer: second\r\nX-Folded: a\r\n b\r\n\r\nx\r\n",
      {"b@example.com"});
  const json::Value& h = v["headers"];
  EXPECT_EQ(h.size(), 2u) << v.Serialize();
  EXPECT_EQ(h["X-Mailer"].as_string(), "m/1");
  EXPECT_EQ(h["X-Folded"].as_string(), "a b");
  EXPECT_TRUE(IsPassableHeader("X-Priority"));
  EXPECT_FALSE(IsPassableHeader("X-MS-Has-Attach"));
  EXPECT_FALSE(IsPassableHeader("Importance"));
  EXPECT_FALSE(IsPassableHeader("X-Bad Name"));
}

const char kRelated[] =
    "Subject: img\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:logo@x\"><img src=\"cid:same@x\">\r\n"
    "--b\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n"
    "--b\r\nContent-Type: image/gif\r\nContent-ID: <same@x>\r\n\r\nGIF89a\r\n"
    "--b\r\nContent-Type: image/gif\r\nContent-ID: <same@x>\r\n\r\nGIF89b\r\n"
    "--b--\r\n";

TEST(RequestBuilder, InlineImagesGetContentIdOnlyWhereTheApiVersionHasIt) {
  json::Value v = Build(kRelated, {"b@example.com"});
  ASSERT_EQ(v["attachments"].size(), 3u);
  EXPECT_EQ(v["attachments"][0]["contentId"].as_string(), "logo@x");
  EXPECT_EQ(v["attachments"][0]["name"].as_string(), "attachment-1.png");  // made up: ACS needs one
  EXPECT_EQ(v["attachments"][1]["contentId"].as_string(), "same@x");
  EXPECT_EQ(v["attachments"][2].Find("contentId"), nullptr);  // ACS refuses duplicate ids
  EXPECT_EQ(v["content"]["html"].as_string(), "<img src=\"cid:logo@x\"><img src=\"cid:same@x\">");

  json::Value old = Build(kRelated, {"b@example.com"}, Options("2023-03-31"));
  ASSERT_EQ(old["attachments"].size(), 3u);
  for (const json::Value& a : old["attachments"].as_array()) EXPECT_EQ(a.Find("contentId"), nullptr);
}

TEST(RequestBuilder, ApiVersionsWithContentId) {
  EXPECT_TRUE(SupportsContentId("2025-09-01"));
  EXPECT_TRUE(SupportsContentId("2026-01-01"));
  EXPECT_TRUE(SupportsContentId("2024-07-01-preview"));
  EXPECT_TRUE(SupportsContentId("2025-01-15-preview"));
  EXPECT_FALSE(SupportsContentId("2023-03-31"));
  EXPECT_FALSE(SupportsContentId("2025-01-01-preview"));
  EXPECT_FALSE(SupportsContentId(""));
}

TEST(RequestBuilder, MadeUpNames) {
  EXPECT_EQ(MadeUpAttachmentName(1, "image/png"), "attachment-1.png");
  EXPECT_EQ(MadeUpAttachmentName(3, "text/calendar"), "attachment-3.ics");
  EXPECT_EQ(MadeUpAttachmentName(2, "application/x-unknown"), "attachment-2.bin");
}

TEST(RequestBuilder, SameInputSameBytes) {
  mime::ParsedMessage pm = mime::ParseMessage(kRelated);
  auto batches = SplitIntoBatches(ClassifyRecipients(pm.to, pm.cc, Envelope({"b@example.com"})));
  std::string a = BuildRequestBody(BuildMessageParts(pm, Options()), batches[0], Options());
  std::string b = BuildRequestBody(BuildMessageParts(mime::ParseMessage(kRelated), Options()), batches[0], Options());
  EXPECT_EQ(a, b);
}

// --- the corpus ----------------------------------------------------------------------------

const json::Value& Manifest() {
  static const json::Value manifest = [] {
    auto text = util::ReadFile(kCorpusDir + "manifest.json");
    if (!text.ok()) return json::Value();
    auto v = json::Parse(*text);
    return v.ok() ? *v : json::Value();
  }();
  return manifest;
}

class Corpus : public ::testing::TestWithParam<int> {};

TEST_P(Corpus, RequestMatchesManifest) {
  const json::Value& e = Manifest()["messages"][static_cast<size_t>(GetParam())];
  const std::string file = e["file"].as_string();
  SCOPED_TRACE(file);
  auto raw = util::ReadFile(kCorpusDir + file);
  ASSERT_TRUE(raw.ok());
  std::vector<std::string> envelope;
  for (const json::Value& r : e["envelope"]["rcpt_to"].as_array()) envelope.push_back(r.as_string());
  RequestOptions o = Options();
  o.envelope_sender = e["envelope"]["mail_from"].as_string();
  json::Value v = Build(*raw, envelope, o);

  EXPECT_EQ(v["content"]["subject"].as_string(), e["subject"].is_null() ? "" : e["subject"].as_string());
  if (e["text"].is_null()) {
    if (e["html"].is_null()) {
      EXPECT_EQ(v["content"]["plainText"].as_string(), "");
    } else {
      EXPECT_EQ(v["content"].Find("plainText"), nullptr);
    }
  } else {
    EXPECT_EQ(v["content"]["plainText"].as_string(), e["text"].as_string());
  }
  if (e["html"].is_null()) {
    EXPECT_EQ(v["content"].Find("html"), nullptr);
  } else {
    EXPECT_EQ(v["content"]["html"].as_string(), e["html"].as_string());
  }

  // Every envelope recipient exactly once; To/Cc header ones where the header puts them.
  std::vector<std::string> to_header, cc_header;
  for (const json::Value& m : e["to"].as_array()) to_header.push_back(util::ToLower(m["address"].as_string()));
  for (const json::Value& m : e["cc"].as_array()) cc_header.push_back(util::ToLower(m["address"].as_string()));
  size_t total = 0;
  for (const char* field : {"to", "cc", "bcc"}) {
    for (const json::Value& r : v["recipients"][field].as_array()) {
      ++total;
      std::string a = util::ToLower(r["address"].as_string());
      bool in_to = std::find(to_header.begin(), to_header.end(), a) != to_header.end();
      bool in_cc = std::find(cc_header.begin(), cc_header.end(), a) != cc_header.end();
      std::string want = in_to ? "to" : in_cc ? "cc" : "bcc";
      EXPECT_EQ(field, want) << a;
    }
  }
  EXPECT_EQ(total, envelope.size());

  // Reply-To wins; else the original From.
  const json::Value& want_reply = e["reply_to"].size() ? e["reply_to"] : e["from"];
  ASSERT_EQ(v["replyTo"].size(), want_reply.size());
  for (size_t i = 0; i < want_reply.size(); ++i) {
    EXPECT_EQ(v["replyTo"][i]["address"].as_string(), want_reply[i]["address"].as_string());
    EXPECT_EQ(v["replyTo"][i]["displayName"].as_string(), want_reply[i]["name"].as_string());
  }

  // Attachments: decoded bytes, names (made up when missing), types, content ids.
  const json::Value& want = e["attachments"];
  ASSERT_EQ(v["attachments"].size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const json::Value& a = v["attachments"][i];
    auto data = util::Base64Decode(a["contentInBase64"].as_string());
    ASSERT_TRUE(data.has_value());
    EXPECT_EQ(util::HexEncode(util::Sha256(*data)), want[i]["sha256"].as_string());
    EXPECT_EQ(a["contentType"].as_string(), want[i]["content_type"].as_string());
    if (want[i]["filename"].is_null()) {
      EXPECT_TRUE(util::StartsWithIgnoreCase(a["name"].as_string(), "attachment-")) << a["name"].as_string();
    } else {
      EXPECT_EQ(a["name"].as_string(), want[i]["filename"].as_string());
    }
    if (want[i]["inline"].as_bool()) {
      EXPECT_EQ(a["contentId"].as_string(), want[i]["content_id"].as_string());
    } else {
      EXPECT_EQ(a.Find("contentId"), nullptr);
    }
  }

  // X-* custom headers pass, others do not.
  size_t passable = 0;
  for (const json::Value& h : e["custom_headers"].as_array()) {
    const std::string& name = h[0].as_string();
    if (!IsPassableHeader(name)) {
      EXPECT_EQ(v["headers"].Find(name), nullptr) << name;
      continue;
    }
    ++passable;
    EXPECT_EQ(v["headers"][name].as_string(), h[1].as_string()) << name;
  }
  EXPECT_EQ(v["headers"].size(), passable);
  // The message's own Bcc header never travels (its addresses are envelope recipients).
  for (const auto& [name, value] : v["headers"].as_object()) EXPECT_FALSE(util::EqualsIgnoreCase(name, "bcc"));
  EXPECT_EQ(v.Find("bcc"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(AllFiles, Corpus, ::testing::Range(0, 26));

TEST(CorpusManifest, HasTwentySixFiles) { EXPECT_EQ(Manifest()["messages"].size(), 26u); }

}  // namespace
}  // namespace mailrelay::azure
