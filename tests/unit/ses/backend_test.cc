// SesBackend::Deliver() against tests/fakes/ses_fake.py (HTTPS, botocore-checked SigV4): one
// result per recipient, the MessageId as info, refusals before sending, credential failures.
#include <event2/event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/json/json.h"
#include "deliver-ses/credentials/static_provider.h"
#include "deliver-ses/result_mapping.h"
#include "deliver-ses/ses_backend.h"
#include "tests/fakes/fake_process.h"

namespace mailrelay::ses {
namespace {

using namespace std::chrono_literals;

constexpr char kAkid[] = "AKIAUNITTEST0000001";
constexpr char kSecret[] = "unit-test-secret/with+chars";

class Failing : public CredentialProvider {
 public:
  std::string Name() const override { return "failing"; }
  void Fetch(CredentialsCallback done) override {
    done(util::NotFound("no AWS credentials found (test)"));
  }
};

class BackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fakes::TempDir();
    ASSERT_TRUE(fakes::MakeTestCa(dir_->path()).ok());
    auto fake = fakes::FakeProcess::Start(
        "ses_fake.py", dir_->path(), "ses",
        {"--cert-dir", dir_->path(), "--credential", std::string(kAkid) + ":" + kSecret, "--reject",
         "refused@example.com"});
    ASSERT_TRUE(fake.ok()) << fake.status().ToString();
    fake_ = std::move(fake).value().release();
  }
  static void TearDownTestSuite() {
    delete fake_;
    delete dir_;
  }

  BackendTest() : base_(event_base_new()) {}
  ~BackendTest() override {
    backend_.reset();
    event_base_free(base_);
  }

  void Make(std::function<std::unique_ptr<CredentialProvider>()> provider = {},
            const std::string& sender = "") {
    SesSettings s;
    s.region = "us-east-1";
    s.endpoint = *SendEmailEndpoint(fake_->Url());
    s.ca_file = dir_->path() + "/ca.pem";
    s.timeout = 10s;
    s.sender = sender;
    if (!provider)
      provider = [] { return std::make_unique<StaticProvider>(Credentials{kAkid, kSecret, ""}); };
    backend_ = std::make_unique<SesBackend>(base_, s,
                                            [provider](http::HttpClient*) { return provider(); });
  }

  agent::JobResult Deliver(const std::vector<std::string>& rcpts, const std::string& body,
                           const std::string& sender = "sender@example.org") {
    auto job = std::make_shared<agent::DeliveryJob>();
    job->id = ++next_id_;
    job->queue_id = "TESTQUEUEID" + std::to_string(job->id);
    job->sender = sender;
    for (size_t i = 0; i < rcpts.size(); ++i)
      job->recipients.push_back({static_cast<int>(i), rcpts[i]});
    job->body = body;
    std::optional<agent::JobResult> out;
    int calls = 0;
    backend_->Deliver(job, [&](agent::JobResult r) {
      ++calls;
      out = std::move(r);
    });
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!out && std::chrono::steady_clock::now() < deadline) event_base_loop(base_, EVLOOP_ONCE);
    event_base_loop(base_, EVLOOP_NONBLOCK);
    EXPECT_EQ(calls, 1);
    return out ? *out : agent::JobResult{};
  }

  json::Value LastRequest() {
    auto rec = fake_->Record();
    EXPECT_TRUE(rec.ok());
    const auto& reqs = (*rec)["requests"].as_array();
    return reqs.empty() ? json::Value() : reqs.back();
  }

  static fakes::TempDir* dir_;
  static fakes::FakeProcess* fake_;
  event_base* base_;
  std::unique_ptr<SesBackend> backend_;
  uint64_t next_id_ = 0;
};

fakes::TempDir* BackendTest::dir_ = nullptr;
fakes::FakeProcess* BackendTest::fake_ = nullptr;

const std::string kBody =
    "From: sender@example.org\r\nTo: a@example.com\r\nSubject: unit\r\n\r\nhello\r\n";

TEST_F(BackendTest, DeliveredWithTheMessageIdAsInfo) {
  Make();
  agent::JobResult r = Deliver({"a@example.com", "b@example.com"}, kBody);
  ASSERT_EQ(r.results.size(), 2u);
  for (const auto& x : r.results) {
    EXPECT_EQ(x.code, 250) << x.text;
    EXPECT_EQ(x.enhanced, "2.0.0");
  }
  json::Value req = LastRequest();
  EXPECT_EQ(req["outcome"].as_string(), "sent");
  EXPECT_EQ(r.info, "ses-message-id=" + req["message_id"].as_string());
  EXPECT_EQ(req["destination"]["ToAddresses"][size_t{0}].as_string(), "a@example.com");
  EXPECT_EQ(req["destination"]["BccAddresses"][size_t{0}].as_string(), "b@example.com");
  EXPECT_EQ(req["from_email_address"].as_string(), "sender@example.org");
  EXPECT_FALSE(r.throttled);
}

TEST_F(BackendTest, SenderSettingAndNullSender) {
  Make({}, "relay@example.com");
  Deliver({"a@example.com"}, kBody, "");
  EXPECT_EQ(LastRequest()["from_email_address"].as_string(), "relay@example.com");
  Make();
  agent::JobResult r = Deliver({"a@example.com"}, kBody, "");  // a bounce: SES uses the From field
  EXPECT_EQ(r.results[0].code, 250);
  EXPECT_TRUE(LastRequest()["from_email_address"].is_null());
}

TEST_F(BackendTest, PerRecipientRefusalsAndSesRejections) {
  Make();
  agent::JobResult r = Deliver({"a@example.com", "j\xc3\xb6rg@example.com"}, kBody);
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[0].code, 250);
  EXPECT_EQ(r.results[1].code, 553);
  EXPECT_EQ(r.results[1].enhanced, "5.6.7");

  r = Deliver({"refused@example.com"}, kBody);
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].code, 550);
  EXPECT_NE(
      r.results[0].text.find("SES answered 400 MessageRejected: Email address is not verified"),
      std::string::npos)
      << r.results[0].text;
}

TEST_F(BackendTest, NonAsciiSenderNeedsASesSender) {
  Make();
  agent::JobResult r = Deliver({"a@example.com"}, kBody, "j\xc3\xb6rg@example.org");
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].code, 550);
  EXPECT_EQ(r.results[0].enhanced, "5.6.7");
  EXPECT_NE(r.results[0].text.find("set [ses] sender"), std::string::npos);
}

TEST_F(BackendTest, RefusedBeforeSending) {
  Make();
  size_t before = (*fake_->Record())["count"].as_int();
  agent::JobResult r =
      Deliver({"a@example.com"}, "Subject: s\r\n\r\n" + std::string(1200, 'x') + "\r\n");
  EXPECT_EQ(r.results[0].code, 554);
  EXPECT_EQ(r.results[0].enhanced, "5.6.0");
  std::string big = "Subject: big\r\n\r\n";
  big.resize(kSesMaxRawBase64 / 4 * 3 + 1, 'y');
  for (size_t i = 900; i < big.size(); i += 900) big[i] = '\n';
  r = Deliver({"a@example.com", "b@example.com"}, big);
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[1].code, 552);
  EXPECT_EQ(r.results[1].enhanced, "5.3.4");
  EXPECT_EQ(static_cast<size_t>((*fake_->Record())["count"].as_int()), before);
}

TEST_F(BackendTest, WrongKeysAndMissingCredentialsAreDeferred) {
  Make([] { return std::make_unique<StaticProvider>(Credentials{kAkid, "wrong", ""}); });
  agent::JobResult r = Deliver({"a@example.com"}, kBody);
  EXPECT_EQ(r.results[0].code, 451);
  EXPECT_EQ(r.results[0].enhanced, "4.7.0");
  EXPECT_NE(r.results[0].text.find("SignatureDoesNotMatch"), std::string::npos);

  Make([] { return std::make_unique<Failing>(); });
  r = Deliver({"a@example.com", "b@example.com"}, kBody);
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[1].code, 451);
  EXPECT_EQ(r.results[1].text, "no usable AWS credentials: no AWS credentials found (test)");
}

TEST_F(BackendTest, ThrottledAsksQmgrToPause) {
  Make();
  ASSERT_TRUE(fakes::RunToCompletion(
                  {fakes::kPython, "-c",
                   "import urllib.request,ssl,sys; urllib.request.urlopen(urllib.request.Request("
                   "sys.argv[1], data=b'{\"throttle\": 1}', method='POST'), "
                   "context=ssl.create_default_context(cafile=sys.argv[2]))",
                   fake_->Url("/_config"), dir_->path() + "/ca.pem"},
                  dir_->path() + "/config.log")
                  .ok());
  agent::JobResult r = Deliver({"a@example.com"}, kBody);
  EXPECT_EQ(r.results[0].code, 451);
  EXPECT_EQ(r.results[0].enhanced, "4.4.5");
  EXPECT_TRUE(r.throttled);
  EXPECT_EQ(r.retry_after, kThrottleBackoffSeconds);
  r = Deliver({"a@example.com"}, kBody);
  EXPECT_EQ(r.results[0].code, 250);
}

TEST_F(BackendTest, DeadlineCoversCredentialsAndTheRequest) {
  Make();
  EXPECT_EQ(backend_->DeadlineSeconds(), 2 * 10 + 30);
}

}  // namespace
}  // namespace mailrelay::ses
