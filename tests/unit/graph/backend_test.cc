// GraphBackend::Deliver() and the passthrough AUTH socket (deliver-graph/auth_server.h with
// smtpd/graph_auth_client.h) against tests/fakes/entra_fake.py and graph_fake.py over HTTPS,
// all on one libevent loop: results per recipient, token caching and refresh, refusals before
// sending, and every way an AUTH check can end.
#include <event2/event.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/http/http_client.h"
#include "common/ipc/channel.h"
#include "common/json/json.h"
#include "deliver-graph/credentials.h"
#include "deliver-graph/graph_backend.h"
#include "smtpd/graph_auth_client.h"
#include "tests/fakes/fake_process.h"

namespace mailrelay::graph {
namespace {

using namespace std::chrono_literals;

constexpr char kTenantA[] = "11111111-2222-3333-4444-555555555555";
constexpr char kClientA[] = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
constexpr char kSecretA[] = "secret-A~with:odd=chars";
constexpr char kTenantB[] = "99999999-8888-7777-6666-555555555555";
constexpr char kClientB[] = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff";
constexpr char kSecretB[] = "secret-B";
const std::string kBody =
    "From: Sender <sender@example.org>\r\nTo: a@example.com, other@example.com\r\n"
    "Subject: unit\r\n\r\nhello\r\n";

class GraphBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fakes::TempDir();
    ASSERT_TRUE(fakes::MakeTestCa(dir_->path()).ok());
    auto entra = fakes::FakeProcess::Start(
        "entra_fake.py", dir_->path(), "entra",
        {"--cert-dir", dir_->path(), "--client",
         std::string(kTenantA) + ":" + kClientA + ":" + kSecretA, "--client",
         std::string(kTenantB) + ":" + kClientB + ":" + kSecretB});
    ASSERT_TRUE(entra.ok()) << entra.status().ToString();
    entra_ = std::move(entra).value().release();
    auto graph = fakes::FakeProcess::Start(
        "graph_fake.py", dir_->path(), "graph",
        {"--cert-dir", dir_->path(), "--app", std::string(kTenantA) + ":" + kClientA, "--app",
         std::string(kTenantB) + ":" + kClientB, "--mailbox", "*:sender@example.org", "--mailbox",
         "*:relay@example.com", "--mailbox", "*:denied@example.org", "--deny",
         std::string(kTenantA) + ":" + kClientA + ":denied@example.org"});
    ASSERT_TRUE(graph.ok()) << graph.status().ToString();
    graph_ = std::move(graph).value().release();
  }
  static void TearDownTestSuite() {
    delete graph_;
    delete entra_;
    delete dir_;
  }

  GraphBackendTest() : base_(event_base_new()), run_dir_(std::make_unique<fakes::TempDir>()) {}
  ~GraphBackendTest() override {
    auth_client_.reset();
    backend_.reset();
    control_.reset();
    event_base_free(base_);
  }

  GraphSettings Settings() {
    GraphSettings s;
    s.endpoint = graph_->Url("");
    s.authority = entra_->Url("");
    s.ca_file = dir_->path() + "/ca.pem";
    s.timeout = 5;
    s.run_dir = run_dir_->path();
    s.key_dir = run_dir_->path() + "/keys";
    return s;
  }

  void Make(GraphSettings s, bool with_app = true, bool with_keys = false) {
    std::optional<Credentials> app;
    if (with_app) app.emplace(kTenantA, kClientA, kSecretA);
    std::optional<auth::BoxKeyPair> keys;
    if (with_keys) {
      keys_ = auth::GenerateBoxKeyPair();
      keys = keys_;
    }
    backend_ = std::make_unique<GraphBackend>(base_, std::move(s), std::move(app), std::move(keys));
  }

  template <typename Pred>
  void RunUntil(Pred done, std::chrono::seconds limit = 20s) {
    // A periodic no-op timer so EVLOOP_ONCE returns even when nothing else happens.
    event* tick = event_new(
        base_, -1, EV_PERSIST, [](evutil_socket_t, short, void*) {}, nullptr);
    timeval tv{0, 50000};
    event_add(tick, &tv);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline)
      event_base_loop(base_, EVLOOP_ONCE);
    event_free(tick);
  }

  agent::JobResult Deliver(const std::vector<std::string>& rcpts, const std::string& body = kBody,
                           const std::string& sender = "sender@example.org",
                           const std::string& sealed = "") {
    auto job = std::make_shared<agent::DeliveryJob>();
    job->id = ++next_id_;
    job->queue_id = "TESTQUEUEID" + std::to_string(job->id);
    job->sender = sender;
    job->sealed_secret = sealed;
    for (size_t i = 0; i < rcpts.size(); ++i)
      job->recipients.push_back({static_cast<int>(i), rcpts[i]});
    job->body = body;
    std::optional<agent::JobResult> out;
    int calls = 0;
    backend_->Deliver(job, [&](agent::JobResult r) {
      ++calls;
      out = std::move(r);
    });
    RunUntil([&] { return out.has_value(); });
    event_base_loop(base_, EVLOOP_NONBLOCK);
    EXPECT_EQ(calls, 1);
    return out ? *out : agent::JobResult{};
  }

  // POST to a fake's control endpoint through our own HTTP client, on the test loop.
  void Control(fakes::FakeProcess* fake, const std::string& path, const std::string& json_body) {
    if (!control_) control_ = std::make_unique<http::HttpClient>(base_);
    http::Request req;
    req.method = "POST";
    req.url = fake->Url(path);
    req.headers = {{"Content-Type", "application/json"}};
    req.body = json_body;
    req.ca_file = dir_->path() + "/ca.pem";
    bool done = false;
    control_->Send(std::move(req), [&](http::Response r) {
      EXPECT_EQ(r.status, 200) << r.error_message << r.body;
      done = true;
    });
    RunUntil([&] { return done; });
  }

  static json::Value Requests(fakes::FakeProcess* fake) {
    auto rec = fake->Record();
    EXPECT_TRUE(rec.ok());
    return rec.ok() ? (*rec)["requests"] : json::Value();
  }
  static json::Value LastRequest(fakes::FakeProcess* fake) {
    json::Value reqs = Requests(fake);
    return reqs.size() ? reqs[reqs.size() - 1] : json::Value();
  }
  static int64_t Issued(const std::string& tenant) {
    auto rec = entra_->Record();
    return rec.ok() ? (*rec)["issued_by_tenant"][tenant].as_int(0) : -1;
  }

  static std::vector<std::string> Strings(const json::Value& v) {
    std::vector<std::string> out;
    for (const auto& x : v.as_array()) out.push_back(x.as_string());
    return out;
  }

  static fakes::TempDir* dir_;
  static fakes::FakeProcess* entra_;
  static fakes::FakeProcess* graph_;
  event_base* base_;
  std::unique_ptr<fakes::TempDir> run_dir_;
  std::unique_ptr<http::HttpClient> control_;
  std::unique_ptr<GraphBackend> backend_;
  std::unique_ptr<smtpd::GraphAuthClient> auth_client_;
  auth::BoxKeyPair keys_;
  uint64_t next_id_ = 0;
};

fakes::TempDir* GraphBackendTest::dir_ = nullptr;
fakes::FakeProcess* GraphBackendTest::entra_ = nullptr;
fakes::FakeProcess* GraphBackendTest::graph_ = nullptr;

TEST_F(GraphBackendTest, MimeFormGoesToTheEnvelopeRecipientsOnly) {
  Make(Settings());
  agent::JobResult r = Deliver({"a@example.com", "hidden@example.net"});
  ASSERT_EQ(r.results.size(), 2u);
  for (const auto& x : r.results) {
    EXPECT_EQ(x.code, 250) << x.text;
    EXPECT_EQ(x.enhanced, "2.0.0");
    EXPECT_EQ(x.text, "202 Accepted");
  }
  json::Value req = LastRequest(graph_);
  EXPECT_EQ(req["outcome"].as_string(), "accepted");
  EXPECT_EQ(req["path"].as_string(), "/v1.0/users/sender@example.org/sendMail");
  EXPECT_EQ(req["form"].as_string(), "mime");
  EXPECT_EQ(req["tenant"].as_string(), kTenantA);
  EXPECT_EQ(req["appid"].as_string(), kClientA);
  EXPECT_EQ(Strings(req["to"]), (std::vector<std::string>{"a@example.com"}));
  EXPECT_EQ(Strings(req["bcc"]), (std::vector<std::string>{"hidden@example.net"}));
  EXPECT_EQ(r.info, "request-id=" + req["request_id"].as_string());
  EXPECT_EQ(req["headers"]["content-type"].as_string(), "text/plain");
  EXPECT_EQ(req["headers"]["authorization"].as_string(), "<redacted>");
}

TEST_F(GraphBackendTest, JsonFormWithoutSentItemsAndTheConfiguredSender) {
  GraphSettings s = Settings();
  s.save_to_sent_items = false;
  s.sender = "relay@example.com";
  Make(s);
  agent::JobResult r = Deliver({"a@example.com"}, kBody, "");
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].code, 250) << r.results[0].text;
  json::Value req = LastRequest(graph_);
  EXPECT_EQ(req["form"].as_string(), "json");
  EXPECT_FALSE(req["save_to_sent_items"].as_bool(true));
  EXPECT_EQ(req["mailbox"].as_string(), "relay@example.com");
  EXPECT_EQ(Strings(req["to"]), (std::vector<std::string>{"a@example.com"}));
}

TEST_F(GraphBackendTest, NullSenderSendsAsTheFromAddress) {
  Make(Settings());
  agent::JobResult r = Deliver({"a@example.com"}, kBody, "");
  EXPECT_EQ(r.results.at(0).code, 250) << r.results.at(0).text;
  EXPECT_EQ(LastRequest(graph_)["mailbox"].as_string(), "sender@example.org");
  agent::JobResult none = Deliver({"a@example.com"}, "Subject: no from\r\n\r\nx\r\n", "");
  EXPECT_EQ(none.results.at(0).code, 550);
  EXPECT_EQ(none.results.at(0).enhanced, "5.1.7");
}

TEST_F(GraphBackendTest, OneTokenForManyDeliveriesAndOneRefreshAfter401) {
  Make(Settings());
  int64_t before = Issued(kTenantA);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Deliver({"a@example.com"}).results.at(0).code, 250);
  EXPECT_EQ(Issued(kTenantA), before + 1);
  // Graph stops taking that token: the next delivery gets a 401, fetches a new one, succeeds.
  Control(graph_, "/_config", R"({"revoke_tokens": true})");
  agent::JobResult r = Deliver({"a@example.com"});
  EXPECT_EQ(r.results.at(0).code, 250) << r.results.at(0).text;
  EXPECT_EQ(Issued(kTenantA), before + 2);
  json::Value reqs = Requests(graph_);
  EXPECT_EQ(reqs[reqs.size() - 2]["status"].as_int(), 401);
  EXPECT_EQ(reqs[reqs.size() - 1]["status"].as_int(), 202);
}

TEST_F(GraphBackendTest, DeniedAndUnknownMailboxesBounce) {
  Make(Settings());
  agent::JobResult denied = Deliver({"a@example.com"}, kBody, "denied@example.org");
  EXPECT_EQ(denied.results.at(0).code, 550);
  EXPECT_EQ(denied.results.at(0).enhanced, "5.7.1");
  EXPECT_NE(denied.results.at(0).text.find("ErrorAccessDenied"), std::string::npos);
  agent::JobResult unknown = Deliver({"a@example.com"}, kBody, "nobody@example.org");
  EXPECT_EQ(unknown.results.at(0).code, 550);
  EXPECT_EQ(unknown.results.at(0).enhanced, "5.1.8");
  EXPECT_NE(unknown.results.at(0).text.find("ErrorInvalidUser"), std::string::npos);
}

TEST_F(GraphBackendTest, OversizeBouncesBeforeSending) {
  Make(Settings());
  size_t before = Requests(graph_).size();
  std::string big = "From: sender@example.org\r\nTo: a@example.com\r\nSubject: big\r\n\r\n";
  while (big.size() < 3200000) big += std::string(998, 'x') + "\r\n";
  agent::JobResult r = Deliver({"a@example.com"}, big);
  EXPECT_EQ(r.results.at(0).code, 552);
  EXPECT_EQ(r.results.at(0).enhanced, "5.3.4");
  EXPECT_NE(r.results.at(0).text.find("over its limit of 4194304"), std::string::npos);
  EXPECT_EQ(Requests(graph_).size(), before);
}

TEST_F(GraphBackendTest, WithoutCredentialsItDefers) {
  Make(Settings(), /*with_app=*/false);
  agent::JobResult r = Deliver({"a@example.com"});
  EXPECT_EQ(r.results.at(0).code, 451);
  EXPECT_EQ(r.results.at(0).enhanced, "4.7.0");
  EXPECT_NE(r.results.at(0).text.find("no Graph credentials"), std::string::npos);
  // Sealed credentials that no key here can open are deferred too, never sent or bounced.
  auto other = auth::GenerateBoxKeyPair();
  auto sealed = SealCredentials(Credentials(kTenantB, kClientB, kSecretB), other.public_key);
  Make(Settings(), true, /*with_keys=*/true);
  agent::JobResult wrong = Deliver({"a@example.com"}, kBody, "sender@example.org", *sealed);
  EXPECT_EQ(wrong.results.at(0).code, 451);
  EXPECT_NE(wrong.results.at(0).text.find("cannot open the passthrough credentials"),
            std::string::npos);
}

TEST_F(GraphBackendTest, SealedCredentialsPickTheTenantPerMessage) {
  Make(Settings(), true, true);
  auto sealed_b = SealCredentials(Credentials(kTenantB, kClientB, kSecretB), keys_.public_key);
  ASSERT_TRUE(sealed_b.ok());
  EXPECT_EQ(Deliver({"a@example.com"}, kBody, "sender@example.org", *sealed_b).results.at(0).code,
            250);
  EXPECT_EQ(LastRequest(graph_)["tenant"].as_string(), kTenantB);
  EXPECT_EQ(Deliver({"a@example.com"}).results.at(0).code, 250);
  EXPECT_EQ(LastRequest(graph_)["tenant"].as_string(), kTenantA);
}

// --- passthrough AUTH over the socket ------------------------------------------------------

class AuthSocketTest : public GraphBackendTest {
 protected:
  void StartServer(int64_t timeout = 5) {
    GraphSettings s = Settings();
    s.passthrough = true;
    s.timeout = timeout;
    Make(s, false, true);
    ASSERT_TRUE(backend_->StartAuthServer().ok());
    auth_client_ = std::make_unique<smtpd::GraphAuthClient>(
        base_, run_dir_->path() + "/graph-auth.sock", std::chrono::seconds(timeout + 3));
  }

  smtpd::GraphAuthClient::Answer Check(const std::string& user, const std::string& secret) {
    std::optional<smtpd::GraphAuthClient::Answer> out;
    auth_client_->Check(user, secret, "[127.0.0.1]:1234",
                        [&](smtpd::GraphAuthClient::Answer a) { out = a; });
    RunUntil([&] { return out.has_value(); });
    EXPECT_TRUE(out.has_value());
    return out.value_or(smtpd::GraphAuthClient::Answer{});
  }
};

TEST_F(AuthSocketTest, GoodSecretIsAcceptedAndSealedToOurKey) {
  StartServer();
  auto a = Check(std::string(kTenantA) + "@" + kClientA + ".local", kSecretA);
  ASSERT_EQ(a.outcome, smtpd::GraphAuthClient::Outcome::kAccepted) << a.text;
  auto opened = OpenCredentials(a.sealed_secret, keys_);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->tenant_id, kTenantA);
  EXPECT_EQ(opened->client_id, kClientA);
  EXPECT_EQ(opened->client_secret, kSecretA);
  // The same credentials again: answered from the token cache, no second token request.
  int64_t issued = Issued(kTenantA);
  EXPECT_EQ(Check(std::string(kTenantA) + "@" + kClientA, kSecretA).outcome,
            smtpd::GraphAuthClient::Outcome::kAccepted);
  EXPECT_EQ(Issued(kTenantA), issued);
  // And a delivery with the sealed secret uses that cached token as well.
  EXPECT_EQ(
      Deliver({"a@example.com"}, kBody, "sender@example.org", a.sealed_secret).results.at(0).code,
      250);
  EXPECT_EQ(Issued(kTenantA), issued);
}

TEST_F(AuthSocketTest, WrongSecretAndMalformedNamesAreRefused) {
  StartServer();
  auto bad = Check(std::string(kTenantA) + "@" + kClientA, "wrong secret");
  EXPECT_EQ(bad.outcome, smtpd::GraphAuthClient::Outcome::kRefused);
  EXPECT_NE(bad.text.find("invalid_client"), std::string::npos) << bad.text;
  EXPECT_TRUE(bad.sealed_secret.empty());
  // A wrong secret never earns the token the right one got, and the right one still works.
  EXPECT_EQ(Check(std::string(kTenantA) + "@" + kClientA, kSecretA).outcome,
            smtpd::GraphAuthClient::Outcome::kAccepted);
  EXPECT_EQ(Check(std::string(kTenantA) + "@" + kClientA, "wrong secret").outcome,
            smtpd::GraphAuthClient::Outcome::kRefused);
  for (const std::string& user :
       {std::string("alice"), std::string(kTenantA) + ":" + kClientA,
        std::string("lookup@") + kClientA, std::string(kTenantA) + "@@" + kClientA}) {
    auto a = Check(user, kSecretA);
    EXPECT_EQ(a.outcome, smtpd::GraphAuthClient::Outcome::kRefused) << user;
  }
  // A secret too big for the frame is refused by the client itself.
  EXPECT_EQ(Check(std::string(kTenantA) + "@" + kClientA, std::string(5000, 's')).outcome,
            smtpd::GraphAuthClient::Outcome::kRefused);
}

TEST_F(AuthSocketTest, UnreachableOrSilentOrHungDeliverGraphMeansTryLater) {
  // Nobody listens.
  auth_client_ =
      std::make_unique<smtpd::GraphAuthClient>(base_, run_dir_->path() + "/nobody.sock", 1s);
  auto a = Check(std::string(kTenantA) + "@" + kClientA, kSecretA);
  EXPECT_EQ(a.outcome, smtpd::GraphAuthClient::Outcome::kTryLater);
  // Something listens but never says hello (a hung deliver-graph): the deadline answers.
  auto fd = ipc::ListenUnix(run_dir_->path() + "/silent.sock", 0600);
  ASSERT_TRUE(fd.ok());
  auth_client_ =
      std::make_unique<smtpd::GraphAuthClient>(base_, run_dir_->path() + "/silent.sock", 1s);
  auto started = std::chrono::steady_clock::now();
  auto b = Check(std::string(kTenantA) + "@" + kClientA, kSecretA);
  EXPECT_EQ(b.outcome, smtpd::GraphAuthClient::Outcome::kTryLater);
  EXPECT_NE(b.text.find("no answer from deliver-graph"), std::string::npos) << b.text;
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
  ::close(*fd);
  // Entra hangs: deliver-graph answers "try later" once the token request times out.
  StartServer(/*timeout=*/1);
  Control(entra_, "/_faults", R"({"path": "/", "count": 1, "hang": true})");
  auto c = Check(std::string(kTenantB) + "@" + kClientB, kSecretB);
  EXPECT_EQ(c.outcome, smtpd::GraphAuthClient::Outcome::kTryLater) << c.text;
  EXPECT_NE(c.text.find("Entra unavailable"), std::string::npos) << c.text;
}

TEST_F(AuthSocketTest, AHostilePeerOnlyLosesItsOwnConnection) {
  StartServer();
  // A peer that skips the hello and sends garbage is cut off; the server keeps serving.
  auto fd = ipc::ConnectUnix(run_dir_->path() + "/graph-auth.sock");
  ASSERT_TRUE(fd.ok());
  std::string junk(64, '\xff');
  ASSERT_EQ(::write(*fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  char buf[4096];
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    RunUntil([] { return false; }, 1s);
    ssize_t n;
    while ((n = ::read(*fd, buf, sizeof buf)) > 0) {
    }
    closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
  }
  EXPECT_TRUE(closed);
  ::close(*fd);
  EXPECT_EQ(Check(std::string(kTenantA) + "@" + kClientA, kSecretA).outcome,
            smtpd::GraphAuthClient::Outcome::kAccepted);
}

}  // namespace
}  // namespace mailrelay::graph
