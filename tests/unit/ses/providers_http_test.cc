// The HTTP credential sources (EC2 IMDSv2, ECS container endpoint, STS web identity) against
// the fakes in tests/fakes/ on ephemeral loopback ports: the exact requests they make, token
// reuse and renewal, and what their failures become. Hermetic: loopback only.
#include <event2/event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/http/http_client.h"
#include "common/json/json.h"
#include "common/util/file.h"
#include "deliver-ses/credentials/container_provider.h"
#include "deliver-ses/credentials/imds_provider.h"
#include "deliver-ses/credentials/web_identity_provider.h"
#include "tests/fakes/fake_process.h"

namespace mailrelay::ses {
namespace {

using namespace std::chrono_literals;
using fakes::FakeProcess;

class Loop {
 public:
  Loop() : base_(event_base_new()) {}
  ~Loop() { event_base_free(base_); }
  event_base* base() const { return base_; }
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
    event* tick = event_new(
        base_, -1, EV_PERSIST, [](evutil_socket_t, short, void*) {}, nullptr);
    timeval tv{0, 20000};
    event_add(tick, &tv);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    bool ok = true;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ok = false;
        break;
      }
      event_base_loop(base_, EVLOOP_ONCE);
    }
    event_free(tick);
    return ok;
  }

 private:
  event_base* base_;
};

struct Shared {
  fakes::TempDir dir;
  bool ca_ok = false;
  std::string Ca() const { return dir.path() + "/ca.pem"; }
};

Shared& S() {
  static Shared shared;
  if (!shared.ca_ok) {
    util::Status st = fakes::MakeTestCa(shared.dir.path());
    EXPECT_TRUE(st.ok()) << st.ToString();
    shared.ca_ok = st.ok();
  }
  return shared;
}

std::unique_ptr<FakeProcess> StartFake(const std::string& script, const std::string& name,
                                       std::vector<std::string> args, bool plain) {
  if (plain) {
    args.insert(args.begin(), "--plain");
  } else {
    args.insert(args.begin(), {"--cert-dir", S().dir.path()});
  }
  auto fake = FakeProcess::Start(script, S().dir.path(), name, std::move(args));
  EXPECT_TRUE(fake.ok()) << fake.status().ToString();
  return fake.ok() ? std::move(fake).value() : nullptr;
}

std::vector<json::Value> Requests(const FakeProcess& fake) {
  auto rec = fake.Record();
  EXPECT_TRUE(rec.ok());
  if (!rec.ok()) return {};
  return (*rec)["requests"].as_array();
}

class HttpSources : public ::testing::Test {
 protected:
  HttpSources() : client_(loop_.base()) {}

  util::Result<AwsCredentials> FetchFrom(CredentialProvider& p) {
    std::optional<util::Result<AwsCredentials>> out;
    p.Fetch([&](util::Result<AwsCredentials> r) { out = std::move(r); });
    EXPECT_TRUE(loop_.RunUntil([&] { return out.has_value(); })) << "no answer in time";
    return out ? *out : util::Result<AwsCredentials>(util::Internal("no answer"));
  }

  Loop loop_;
  http::HttpClient client_;
};

TEST_F(HttpSources, ImdsTokenThenRoleThenCredentialsAndTheTokenIsReused) {
  auto imds =
      StartFake("imds_fake.py", "imds1", {"--role", "web-role", "--expires-in", "900"}, true);
  ASSERT_TRUE(imds);
  ImdsProvider p(&client_,
                 MapEnvironment({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds->Url("", "http")}}));
  auto c = FetchFrom(p);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id.rfind("ASIA", 0), 0u);
  EXPECT_FALSE(c->keys.session_token.empty());
  EXPECT_NEAR(static_cast<double>(c->expires_at_us) / 1e6,
              static_cast<double>(util::Clock::System().NowSeconds() + 900), 5);
  EXPECT_EQ(c->source, "EC2 instance metadata (role web-role)");
  auto reqs = Requests(*imds);
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0]["method"].as_string(), "PUT");
  EXPECT_EQ(reqs[0]["path"].as_string(), "/latest/api/token");
  EXPECT_EQ(reqs[0]["headers"]["x-aws-ec2-metadata-token-ttl-seconds"].as_string(), "21600");
  EXPECT_EQ(reqs[1]["path"].as_string(), "/latest/meta-data/iam/security-credentials/");
  EXPECT_EQ(reqs[2]["path"].as_string(), "/latest/meta-data/iam/security-credentials/web-role");
  EXPECT_TRUE(reqs[2]["token_ok"].as_bool());
  EXPECT_EQ(reqs[2]["issued_access_key_id"].as_string(), c->keys.access_key_id);

  auto again = FetchFrom(p);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->keys.access_key_id, c->keys.access_key_id);
  EXPECT_EQ(Requests(*imds).size(), 5u);  // no second PUT
  EXPECT_EQ(p.token_requests(), 1u);
}

TEST_F(HttpSources, ImdsRejectedTokenIsRenewedOnce) {
  auto imds = StartFake("imds_fake.py", "imds2", {}, true);
  ASSERT_TRUE(imds);
  ImdsProvider p(&client_,
                 MapEnvironment({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds->Url("", "http")}}));
  ASSERT_TRUE(FetchFrom(p).ok());
  // The service forgot its tokens (reboot): the cached one gets 401, a new PUT follows.
  ASSERT_TRUE(fakes::RunToCompletion(
                  {fakes::kPython, "-c",
                   "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request("
                   "sys.argv[1], data=b'{\"expire_tokens\": true}', method='POST'))",
                   imds->Url("/_config", "http")},
                  S().dir.path() + "/imds2-config.log")
                  .ok());
  auto c = FetchFrom(p);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto reqs = Requests(*imds);
  ASSERT_EQ(reqs.size(), 7u);
  EXPECT_EQ(reqs[3]["status"].as_int(), 401);
  EXPECT_EQ(reqs[4]["method"].as_string(), "PUT");
  EXPECT_EQ(p.token_requests(), 2u);
}

TEST_F(HttpSources, ImdsWithoutRoleOrUnreachableIsNotFound) {
  auto imds = StartFake("imds_fake.py", "imds3", {"--no-role"}, true);
  ASSERT_TRUE(imds);
  ImdsProvider p(&client_,
                 MapEnvironment({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds->Url("", "http")}}));
  auto c = FetchFrom(p);
  EXPECT_EQ(c.status().code(), util::Code::kNotFound);
  EXPECT_NE(c.status().message().find("no IAM role"), std::string::npos);

  // Nothing listening: not on EC2, so the chain says "no credentials" rather than an outage.
  int closed_port = imds->port();
  imds.reset();
  ImdsProvider gone(&client_,
                    MapEnvironment({{"AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                     "http://127.0.0.1:" + std::to_string(closed_port)}}));
  EXPECT_EQ(FetchFrom(gone).status().code(), util::Code::kNotFound);
}

TEST_F(HttpSources, ContainerEndpointWithAuthorizationToken) {
  auto ecs = StartFake("ecs_fake.py", "ecs1",
                       {"--path", "/v2/credentials/t1", "--auth-token", "secret-token"}, true);
  ASSERT_TRUE(ecs);
  ContainerProvider p(
      &client_,
      MapEnvironment({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/t1"},
                      {"MAILRELAY_AWS_CONTAINER_ENDPOINT", ecs->Url("", "http")},
                      {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-token"}}),
      "");
  auto c = FetchFrom(p);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto reqs = Requests(*ecs);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0]["auth_ok"].as_bool());
  EXPECT_EQ(reqs[0]["headers"]["accept"].as_string(), "application/json");
  EXPECT_EQ(reqs[0]["issued_access_key_id"].as_string(), c->keys.access_key_id);

  // The token file is read at each fetch, so a rotated token is used at once.
  const std::string token_file = S().dir.path() + "/ecs-token";
  ASSERT_TRUE(util::WriteFileAtomic(S().dir.path(), "ecs-token", "wrong-token\n").ok());
  ContainerProvider from_file(
      &client_,
      MapEnvironment(
          {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs->Url("/v2/credentials/t1", "http")},
           {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file}}),
      "");
  auto denied = FetchFrom(from_file);
  EXPECT_EQ(denied.status().code(), util::Code::kPermissionDenied);
  EXPECT_NE(denied.status().message().find("401 AccessDeniedException"), std::string::npos);
  ASSERT_TRUE(util::WriteFileAtomic(S().dir.path(), "ecs-token", "secret-token\n").ok());
  EXPECT_TRUE(FetchFrom(from_file).ok());
}

TEST_F(HttpSources, WebIdentityAtStsReadsTheTokenFileEachTime) {
  const std::string token_file = S().dir.path() + "/irsa-token";
  ASSERT_TRUE(util::WriteFileAtomic(S().dir.path(), "irsa-token", "eyJ.one.sig\n").ok());
  const std::string role = "arn:aws:iam::123456789012:role/relay";
  auto sts =
      StartFake("sts_fake.py", "sts1", {"--role-arn", role, "--token-file", token_file}, false);
  ASSERT_TRUE(sts);
  util::FakeClock clock(int64_t{1700000000} * 1000000);
  WebIdentityProvider p(
      &client_,
      MapEnvironment({{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file}, {"AWS_ROLE_ARN", role}}),
      sts->Url(), S().Ca(), 10s, &clock);
  auto c = FetchFrom(p);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->source, "web identity (role " + role + ")");
  auto reqs = Requests(*sts);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0]["method"].as_string(), "POST");
  EXPECT_EQ(reqs[0]["path"].as_string(), "/");
  EXPECT_EQ(reqs[0]["role_session_name"].as_string(), "mailrelay-1700000000");
  EXPECT_TRUE(reqs[0]["token_ok"].as_bool());
  EXPECT_FALSE(reqs[0]["signed"].as_bool());
  EXPECT_EQ(reqs[0]["headers"]["content-type"].as_string(),
            "application/x-www-form-urlencoded; charset=utf-8");

  ASSERT_TRUE(util::WriteFileAtomic(S().dir.path(), "irsa-token", "eyJ.two.sig\n").ok());
  EXPECT_TRUE(FetchFrom(p).ok());
  EXPECT_TRUE(Requests(*sts)[1]["token_ok"].as_bool());

  WebIdentityProvider wrong_role(&client_,
                                 MapEnvironment({{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
                                                 {"AWS_ROLE_ARN", "arn:aws:iam::1:role/other"}}),
                                 sts->Url(), S().Ca(), 10s, &clock);
  auto denied = FetchFrom(wrong_role);
  EXPECT_EQ(denied.status().code(), util::Code::kPermissionDenied);
  EXPECT_NE(denied.status().message().find("403 AccessDenied"), std::string::npos);

  WebIdentityProvider missing(&client_,
                              MapEnvironment({{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file + ".gone"},
                                              {"AWS_ROLE_ARN", role}}),
                              sts->Url(), S().Ca(), 10s, &clock);
  EXPECT_EQ(FetchFrom(missing).status().code(),
            util::Code::kUnavailable);  // configured, so not "absent"
  WebIdentityProvider unset(&client_, MapEnvironment({}), sts->Url(), S().Ca(), 10s, &clock);
  EXPECT_EQ(FetchFrom(unset).status().code(), util::Code::kNotFound);
}

// common/http: metadata_service lets plain http:// reach the link-local metadata addresses,
// which are not loopback; without it such a request is refused before anything is sent.
TEST_F(HttpSources, PlainHttpToLinkLocalOnlyForMetadataRequests) {
  for (bool metadata : {false, true}) {
    http::Request req;
    req.url = "http://169.254.169.254:9/latest/api/token";
    req.method = "PUT";
    req.timeout = 300ms;
    req.connect_timeout = 200ms;
    req.metadata_service = metadata;
    std::optional<http::Response> out;
    client_.Send(std::move(req), [&](http::Response r) { out = std::move(r); });
    ASSERT_TRUE(loop_.RunUntil([&] { return out.has_value(); }));
    if (metadata) {
      EXPECT_NE(out->error, http::TransportError::kInvalidRequest) << out->error_message;
    } else {
      EXPECT_EQ(out->error, http::TransportError::kInvalidRequest);
    }
  }
}

}  // namespace
}  // namespace mailrelay::ses
