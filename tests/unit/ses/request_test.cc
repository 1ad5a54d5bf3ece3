// What deliver-ses sends: the raw message it prepares, how the envelope becomes Destination,
// the JSON body, the endpoint and the signed request (checked against the botocore-made SES
// vector in tests/data/).
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/json/json.h"
#include "common/util/base64.h"
#include "common/util/file.h"
#include "common/util/strings.h"
#include "deliver-ses/message_prep.h"
#include "deliver-ses/request_builder.h"
#include "deliver-ses/settings.h"

namespace mailrelay::ses {
namespace {

const std::string kDataDir = MAILRELAY_TESTDATA_DIR;

std::string Slurp(const std::string& path) {
  auto r = util::ReadFile(path, 64 << 20);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::string();
}

PreparedMessage Prep(const std::string& message, const std::string& rewrite = "") {
  PrepOptions o;
  o.rewrite_from_to = rewrite;
  auto r = PrepareRawMessage(message, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : PreparedMessage{};
}

// --- the raw message ---------------------------------------------------------------------

TEST(PrepareRaw, UnchangedMessagePassesByteForByte) {
  const std::string m =
      "Received: from x ([127.0.0.1])\r\n\tby relay (mailrelay) with ESMTP;\r\n\tMon, 1 Jan 2024 "
      "00:00:00 +0000\r\n"
      "From: A <a@example.org>\r\nTo: b@example.com, \"C, D\" <c@example.com>\r\nCc: "
      "e@example.com\r\n"
      "Subject: hi\r\n  folded\r\nMIME-Version: 1.0\r\n\r\n.body\r\n\r\nFrom here\r\n";
  PreparedMessage p = Prep(m);
  EXPECT_EQ(p.raw, m);
  EXPECT_TRUE(p.dropped.empty());
  EXPECT_FALSE(p.from_rewritten);
  EXPECT_EQ(p.to_header, (std::vector<std::string>{"b@example.com", "c@example.com"}));
  EXPECT_EQ(p.cc_header, (std::vector<std::string>{"e@example.com"}));
}

TEST(PrepareRaw, BccRemovedAndSecondCopiesOfSingleFieldsDropped) {
  const std::string m =
      "From: a@example.org\r\nMIME-Version: 1.0\r\nBcc: hidden@example.com,\r\n "
      "other@example.com\r\n"
      "Subject: one\r\nmime-version: 1.0\r\nX-Note: a\r\nX-Note: b\r\nResent-Bcc: r@example.com\r\n"
      "Received: one\r\nReceived: two\r\nSubject: two\r\nDKIM-Signature: v=1; "
      "first\r\nDKIM-Signature: v=1; second\r\n"
      "\r\nBcc: in the body stays\r\n";
  PreparedMessage p = Prep(m);
  EXPECT_EQ(p.raw,
            "From: a@example.org\r\nMIME-Version: 1.0\r\nSubject: one\r\nX-Note: a\r\nX-Note: b\r\n"
            "Received: one\r\nReceived: two\r\nDKIM-Signature: v=1; first\r\n\r\nBcc: in the body "
            "stays\r\n");
  EXPECT_EQ(p.dropped, (std::vector<std::string>{"Bcc", "mime-version", "Resent-Bcc", "Subject",
                                                 "DKIM-Signature"}));
}

TEST(PrepareRaw, CorpusDuplicateMimeVersionAndBcc) {
  PreparedMessage dup = Prep(Slurp(kDataDir + "/mime/019-duplicate-mime-version.eml"));
  EXPECT_EQ(dup.dropped, (std::vector<std::string>{"MIME-Version"}));
  size_t first = dup.raw.find("MIME-Version:");
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(dup.raw.find("MIME-Version:", first + 1), std::string::npos);

  PreparedMessage bcc = Prep(Slurp(kDataDir + "/mime/017-bcc-header.eml"));
  EXPECT_EQ(bcc.dropped, (std::vector<std::string>{"Bcc"}));
  EXPECT_EQ(bcc.raw.find("\nBcc:"), std::string::npos);
}

TEST(PrepareRaw, SingleInstanceList) {
  for (const char* n : {"MIME-Version", "dkim-signature", "From", "Subject", "Message-ID",
                        "Content-Type", "Reply-To", "acceptLanguage", "List-Unsubscribe-Post"}) {
    EXPECT_TRUE(IsSingleInstanceField(n)) << n;
  }
  for (const char* n :
       {"Received", "To", "Cc", "X-Mailer", "Resent-From", "ARC-Seal", "Comments-X"}) {
    EXPECT_FALSE(IsSingleInstanceField(n)) << n;
  }
}

TEST(PrepareRaw, FromRewrittenOriginalIntoReplyTo) {
  PreparedMessage p =
      Prep("From: \"Alice Example\" <alice@example.org>\r\nTo: b@example.com\r\n\r\nx\r\n",
           "relay@example.com");
  EXPECT_TRUE(p.from_rewritten);
  EXPECT_EQ(
      p.raw,
      "From: Alice Example <relay@example.com>\r\nReply-To: Alice Example <alice@example.org>\r\n"
      "To: b@example.com\r\n\r\nx\r\n");
  // An existing Reply-To is the author's choice and stays.
  p = Prep("Reply-To: list@example.org\r\nFrom: alice@example.org\r\n\r\nx\r\n",
           "relay@example.com");
  EXPECT_EQ(p.raw, "Reply-To: list@example.org\r\nFrom: relay@example.com\r\n\r\nx\r\n");
  // Already the sender: untouched.
  p = Prep("From: Relay <RELAY@example.com>\r\n\r\nx\r\n", "relay@example.com");
  EXPECT_FALSE(p.from_rewritten);
  EXPECT_EQ(p.raw, "From: Relay <RELAY@example.com>\r\n\r\nx\r\n");
  // No From at all: one is added.
  p = Prep("Subject: s\r\n\r\nx\r\n", "relay@example.com");
  EXPECT_EQ(p.raw, "Subject: s\r\nFrom: relay@example.com\r\n\r\nx\r\n");
  // Bare-LF messages get LF in what is added.
  p = Prep("From: a@example.org\nSubject: s\n\nx\n", "relay@example.com");
  EXPECT_EQ(p.raw, "From: relay@example.com\nReply-To: a@example.org\nSubject: s\n\nx\n");
}

TEST(PrepareRaw, MissingSeparatorAndMalformedLines) {
  EXPECT_EQ(Prep("Subject: only a header\r\n").raw, "Subject: only a header\r\n\r\n");
  // A line that is no field stays where it was.
  EXPECT_EQ(Prep("From: a@example.org\r\nthis is not a field\r\n\r\nx\r\n").raw,
            "From: a@example.org\r\nthis is not a field\r\n\r\nx\r\n");
  EXPECT_EQ(Prep("").raw, "");
}

TEST(PrepareRaw, LongLinesAreRefused) {
  std::string ok = "Subject: s\r\n\r\n" + std::string(998, 'a') + "\r\n";
  EXPECT_TRUE(PrepareRawMessage(ok, {}).ok());
  std::string bad = "Subject: s\r\n\r\nfirst\r\n" + std::string(999, 'a') + "\r\n";
  auto r = PrepareRawMessage(bad, {});
  EXPECT_EQ(r.status().code(), util::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("line 4 is 999 octets"), std::string::npos);
  std::string bad_header = "X-Long: " + std::string(995, 'b') + "\r\n\r\nx\r\n";
  EXPECT_FALSE(PrepareRawMessage(bad_header, {}).ok());
}

TEST(PrepareRaw, SesSizeLimitCountsBase64) {
  EXPECT_EQ(Base64Size(0), 0u);
  EXPECT_EQ(Base64Size(1), 4u);
  EXPECT_EQ(Base64Size(3), 4u);
  EXPECT_EQ(Base64Size(4), 8u);
  const size_t limit_raw = kSesMaxRawBase64 / 4 * 3;  // exactly 40 MiB once encoded
  std::string line(76, 'x');
  line += "\r\n";
  std::string header = "Subject: big\r\n\r\n";
  std::string fits = header;
  while (fits.size() + line.size() <= limit_raw) fits += line;
  fits += std::string(limit_raw - fits.size(), 'y');
  ASSERT_EQ(Base64Size(fits.size()), kSesMaxRawBase64);
  EXPECT_TRUE(PrepareRawMessage(fits, {}).ok());
  fits += "z";
  auto r = PrepareRawMessage(fits, {});
  EXPECT_EQ(r.status().code(), util::Code::kResourceExhausted);
  EXPECT_NE(r.status().message().find("40 MB"), std::string::npos);
}

// --- Destination -------------------------------------------------------------------------

std::vector<agent::JobRecipient> Rcpts(const std::vector<std::string>& addresses) {
  std::vector<agent::JobRecipient> out;
  for (size_t i = 0; i < addresses.size(); ++i)
    out.push_back({static_cast<int>(i * 2 + 1), addresses[i]});
  return out;
}

TEST(Destination, SplitByHeaderPresenceEnvelopeOnlyIsBcc) {
  PreparedMessage m =
      Prep("To: To@Example.com\r\nCc: cc@example.com\r\nBcc: b@example.com\r\n\r\nx\r\n");
  RecipientPlan plan = PlanRecipients(
      Rcpts({"to@example.com", "cc@example.com", "b@example.com", "env@example.com"}), m);
  ASSERT_EQ(plan.batches.size(), 1u);
  EXPECT_TRUE(plan.refused.empty());
  const Batch& b = plan.batches[0];
  EXPECT_EQ(b.to, (std::vector<std::string>{"to@example.com"}));
  EXPECT_EQ(b.cc, (std::vector<std::string>{"cc@example.com"}));
  EXPECT_EQ(b.bcc, (std::vector<std::string>{"b@example.com", "env@example.com"}));
  EXPECT_EQ(b.indexes, (std::vector<int>{1, 3, 5, 7}));
}

TEST(Destination, AtMostFiftyPerRequest) {
  std::vector<std::string> addresses;
  for (int i = 0; i < 120; ++i) addresses.push_back("r" + std::to_string(i) + "@example.com");
  RecipientPlan plan = PlanRecipients(Rcpts(addresses), Prep("Subject: s\r\n\r\nx\r\n"));
  ASSERT_EQ(plan.batches.size(), 3u);
  EXPECT_EQ(plan.batches[0].indexes.size(), 50u);
  EXPECT_EQ(plan.batches[1].indexes.size(), 50u);
  EXPECT_EQ(plan.batches[2].indexes.size(), 20u);
  EXPECT_EQ(plan.batches[2].bcc.back(), "r119@example.com");
}

TEST(Destination, SesTakesAsciiOnly) {
  EXPECT_EQ(*SesAddress("user@example.com"), "user@example.com");
  EXPECT_EQ(*SesAddress("user@b\xc3\xbc"
                        "cher.example"),
            "user@xn--bcher-kva.example");
  EXPECT_EQ(SesAddress("j\xc3\xb6rg@example.com").status().code(), util::Code::kInvalidArgument);
  EXPECT_FALSE(SesAddress("no-at-sign").ok());
  EXPECT_FALSE(SesAddress("a@").ok());
  RecipientPlan plan =
      PlanRecipients(Rcpts({"ok@example.com", "j\xc3\xb6rg@example.com"}), Prep("S: s\r\n\r\n"));
  ASSERT_EQ(plan.refused.size(), 1u);
  EXPECT_EQ(plan.refused[0].index, 3);
  EXPECT_EQ(plan.refused[0].code, 553);
  EXPECT_EQ(plan.refused[0].enhanced, "5.6.7");
  ASSERT_EQ(plan.batches.size(), 1u);
  EXPECT_EQ(plan.batches[0].indexes, (std::vector<int>{1}));
}

// --- JSON, endpoint, signature -----------------------------------------------------------

TEST(Body, ShapeAndEscaping) {
  Batch b;
  b.to = {"to@example.com"};
  b.cc = {"cc@example.com"};
  b.bcc = {"b1@example.com", "b2@example.com"};
  SendEmailFields f;
  f.from_email_address = "\"odd\"@example.org";
  f.configuration_set = "relay-set";
  f.tags = {{"app", "mailrelay"}, {"env", "prod"}};
  std::string body = SendEmailBody(f, b, "QUJD");
  EXPECT_EQ(
      body,
      R"({"FromEmailAddress":"\"odd\"@example.org","Destination":{"ToAddresses":["to@example.com"],)"
      R"("CcAddresses":["cc@example.com"],"BccAddresses":["b1@example.com","b2@example.com"]},)"
      R"("Content":{"Raw":{"Data":"QUJD"}},"ConfigurationSetName":"relay-set",)"
      R"("EmailTags":[{"Name":"app","Value":"mailrelay"},{"Name":"env","Value":"prod"}]})");
  EXPECT_TRUE(json::Parse(body).ok());
  Batch only_bcc;
  only_bcc.bcc = {"x@example.com"};
  EXPECT_EQ(SendEmailBody({}, only_bcc, ""),
            R"({"Destination":{"BccAddresses":["x@example.com"]},"Content":{"Raw":{"Data":""}}})");
}

TEST(Endpoint, DefaultPortsPathsAndRefusals) {
  auto e = SendEmailEndpoint("https://email.eu-west-1.amazonaws.com");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->url, "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails");
  EXPECT_EQ(e->host_header, "email.eu-west-1.amazonaws.com");
  EXPECT_EQ(e->path, "/v2/email/outbound-emails");
  e = SendEmailEndpoint("https://127.0.0.1:8443/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host_header, "127.0.0.1:8443");
  EXPECT_EQ(e->url, "https://127.0.0.1:8443/v2/email/outbound-emails");
  e = SendEmailEndpoint("https://proxy.example.com/ses/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->path, "/ses/v2/email/outbound-emails");
  EXPECT_TRUE(SendEmailEndpoint("http://localhost:8005").ok());
  EXPECT_FALSE(SendEmailEndpoint("http://email.us-east-1.amazonaws.com")
                   .ok());  // plain http only to loopback
  EXPECT_FALSE(SendEmailEndpoint("https://x.example.com/?a=b").ok());
}

// The request deliver-ses builds for the message of tests/data/ses-sigv4-example.txt is the
// one botocore built there, byte for byte, and signs to the same Authorization.
std::map<std::string, std::string> VectorValues() {
  std::map<std::string, std::string> v;
  std::string section;
  for (const std::string& l :
       util::Split(Slurp(kDataDir + "/ses-sigv4-example.txt"), '\n', false)) {
    if (l.rfind("[", 0) == 0) section = l;
    size_t eq = l.find(" = ");
    if (eq != std::string::npos && l[0] != ' ')
      v[section + std::string(util::Trim(l.substr(0, eq)))] = l.substr(eq + 3);
    if (l.rfind("Authorization: ", 0) == 0) v[section + "Authorization"] = l.substr(15);
  }
  return v;
}

TEST(Signing, MatchesTheBotocoreVector) {
  const std::string body = Slurp(kDataDir + "/ses-sigv4-example-body.json");
  auto doc = json::Parse(body);
  ASSERT_TRUE(doc.ok());
  const std::string raw_b64 = (*doc)["Content"]["Raw"]["Data"].as_string();
  Batch b;
  b.to = {"recipient@example.org"};
  SendEmailFields f;
  f.from_email_address = "sender@example.com";
  ASSERT_EQ(SendEmailBody(f, b, raw_b64), body);

  std::map<std::string, std::string> v = VectorValues();
  const std::string common = "[common inputs]";
  ASSERT_EQ(v[common + "x-amz-date"], "20240115T120000Z");
  auto endpoint = SendEmailEndpoint("https://email.us-east-1.amazonaws.com");
  ASSERT_TRUE(endpoint.ok());
  std::string vector_a, vector_b;
  for (const auto& [k, value] : v) {
    if (k.rfind("[vector A", 0) == 0 && k.find("Authorization") != std::string::npos)
      vector_a = value;
    if (k.rfind("[vector B", 0) == 0 && k.find("Authorization") != std::string::npos)
      vector_b = value;
  }
  ASSERT_FALSE(vector_a.empty());
  ASSERT_FALSE(vector_b.empty());
  std::string token;
  for (const auto& [k, value] : v) {
    if (k.rfind("[vector B", 0) == 0 && k.find("x-amz-security-token") != std::string::npos)
      token = value;
  }
  ASSERT_FALSE(token.empty());

  const int64_t t = 1705320000;  // 2024-01-15T12:00:00Z
  Credentials keys{v[common + "access_key_id"], v[common + "secret_access_key"], ""};
  auto req = SignedSendEmailRequest(*endpoint, "us-east-1", body, keys, t);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->url, "https://email.us-east-1.amazonaws.com/v2/email/outbound-emails");
  EXPECT_EQ(req->body, body);
  std::map<std::string, std::string> h(req->headers.begin(), req->headers.end());
  EXPECT_EQ(h["Authorization"], vector_a);
  EXPECT_EQ(h["Host"], "email.us-east-1.amazonaws.com");
  EXPECT_EQ(h["Content-Type"], "application/json");
  EXPECT_EQ(h["X-Amz-Date"], "20240115T120000Z");
  EXPECT_EQ(h.count("X-Amz-Security-Token"), 0u);

  keys.session_token = token;
  req = SignedSendEmailRequest(*endpoint, "us-east-1", body, keys, t);
  ASSERT_TRUE(req.ok());
  h = std::map<std::string, std::string>(req->headers.begin(), req->headers.end());
  EXPECT_EQ(h["Authorization"], vector_b);
  EXPECT_EQ(h["X-Amz-Security-Token"], token);
}

// --- settings ----------------------------------------------------------------------------

config::Config SesConfig(const std::string& extra) {
  auto c = config::LoadFromString(
      "[server]\nhostname = relay.example.com\nspool_dir = /tmp/x\nrun_dir = /tmp/y\n"
      "[policy]\nrecipient_domains = example.com\n[route]\ndefault = ses\n[ses]\n" +
          extra,
      "test.ini", {.overrides = {}, .use_environment = false, .cwd = "/"});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : config::Config{};
}

TEST(Settings, RegionEndpointAndCaFromConfigThenEnvironment) {
  auto s = ResolveSettings(SesConfig(""), MapEnvironment({}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->region, "us-east-1");
  EXPECT_EQ(s->endpoint.url, "https://email.us-east-1.amazonaws.com/v2/email/outbound-emails");
  s = ResolveSettings(SesConfig(""), MapEnvironment({{"AWS_REGION", "eu-central-1"},
                                                     {"AWS_CA_BUNDLE", "/ca.pem"}}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->region, "eu-central-1");
  EXPECT_EQ(s->endpoint.host_header, "email.eu-central-1.amazonaws.com");
  EXPECT_EQ(s->ca_file, "/ca.pem");
  // [ses] region, once set, wins over the environment.
  s = ResolveSettings(SesConfig("region = ap-south-1\n"),
                      MapEnvironment({{"AWS_REGION", "eu-central-1"}}));
  EXPECT_EQ(s->region, "ap-south-1");
  s = ResolveSettings(SesConfig(""),
                      MapEnvironment({{"AWS_ENDPOINT_URL_SESV2", "https://127.0.0.1:9/"}}));
  EXPECT_EQ(s->endpoint.url, "https://127.0.0.1:9/v2/email/outbound-emails");
  EXPECT_FALSE(
      ResolveSettings(SesConfig(""), MapEnvironment({{"AWS_REGION", "Not A Region"}})).ok());
  EXPECT_FALSE(ResolveSettings(SesConfig(""),
                               MapEnvironment({{"AWS_ENDPOINT_URL", "http://ses.example.com"}}))
                   .ok());
}

TEST(Settings, SenderAndConfigurationSet) {
  auto s = ResolveSettings(
      SesConfig("sender = relay@example.com\nrewrite_from = yes\nconfiguration_set = set-1\n"
                "tags = a=b\n"),
      MapEnvironment({}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->sender, "relay@example.com");
  EXPECT_TRUE(s->rewrite_from);
  EXPECT_EQ(s->configuration_set, "set-1");
  EXPECT_EQ(s->tags.size(), 1u);
  EXPECT_FALSE(
      ResolveSettings(SesConfig("configuration_set = has space\n"), MapEnvironment({})).ok());
  EXPECT_TRUE(ValidConfigurationSetName("A_b-9"));
  EXPECT_FALSE(ValidConfigurationSetName(std::string(65, 'a')));
}

}  // namespace
}  // namespace mailrelay::ses
