// Tests for common/http against the Python fakes in tests/fakes/ (echo server and Entra ID
// token endpoint), each on an ephemeral loopback port with a throwaway CA. Hermetic: loopback
// only, no fixed ports, no network.
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/http/headers.h"
#include "common/http/http_client.h"
#include "common/http/token.h"
#include "common/http/url.h"
#include "common/json/json.h"
#include "common/util/clock.h"
#include "tests/fakes/fake_process.h"

namespace mailrelay::http {
namespace {

using namespace std::chrono_literals;
using fakes::FakeProcess;
using Clock = std::chrono::steady_clock;

// --- harness -----------------------------------------------------------------------------

class Loop {
 public:
  Loop() : base_(event_base_new()) {}
  ~Loop() { event_base_free(base_); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  event_base* base() const { return base_; }

  // Runs the loop until done() holds; false if `limit` passed first.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
    // A ticking timer so the loop wakes up to check the deadline even with nothing to do.
    event* tick = event_new(
        base_, -1, EV_PERSIST, [](evutil_socket_t, short, void*) {}, nullptr);
    timeval tv{0, 20000};
    event_add(tick, &tv);
    const auto deadline = Clock::now() + limit;
    bool ok = true;
    while (!done()) {
      if (Clock::now() > deadline) {
        ok = false;
        break;
      }
      event_base_loop(base_, EVLOOP_ONCE);
    }
    event_free(tick);
    return ok;
  }
  void RunFor(std::chrono::milliseconds d) {
    const auto end = Clock::now() + d;
    RunUntil([&] { return Clock::now() >= end; }, d + 5s);
  }

 private:
  event_base* base_;
};

Response Fetch(Loop& loop, HttpClient& client, Request req) {
  std::optional<Response> out;
  client.Send(std::move(req), [&](Response r) { out = std::move(r); });
  EXPECT_TRUE(loop.RunUntil([&] { return out.has_value(); })) << "no response in time";
  return out ? std::move(*out) : Response{};
}

// Fakes and the test PKI, started on first use and shared by the tests of this process.
struct Shared {
  fakes::TempDir dir;
  bool ca_ok = false;
  std::unique_ptr<FakeProcess> echo;
  std::unique_ptr<FakeProcess> entra;

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
                                       std::vector<std::string> args) {
  args.insert(args.begin(), {"--cert-dir", S().dir.path()});
  auto fake = FakeProcess::Start(script, S().dir.path(), name, std::move(args));
  EXPECT_TRUE(fake.ok()) << fake.status().ToString();
  return fake.ok() ? std::move(fake).value() : nullptr;
}

FakeProcess& Echo() {
  if (!S().echo) S().echo = StartFake("fakebase.py", "echo", {});
  return *S().echo;
}

// Entra fake tenants: t1's secret has every character that form encoding must escape.
constexpr char kSecret1[] = "s3cr+t&=/ %x~";
constexpr char kSecret2[] = "second-secret";

FakeProcess& Entra() {
  if (!S().entra) {
    S().entra = StartFake(
        "entra_fake.py", "entra",
        {"--client", std::string("t1:app1:") + kSecret1, "--client",
         std::string("t2:app2:") + kSecret2, "--scope", kGraphScope, "--scope", kAcsScope});
  }
  return *S().entra;
}

// One request to a fake's control endpoint (/_requests, /_faults, /_config).
json::Value Control(FakeProcess& fake, const std::string& method, const std::string& path,
                    const std::string& body = "") {
  Loop loop;
  HttpClient client(loop.base());
  Request req;
  req.method = method;
  req.url = fake.Url(path);
  req.ca_file = S().Ca();
  req.body = body;
  if (!body.empty()) req.headers = {{"Content-Type", "application/json"}};
  Response r = Fetch(loop, client, std::move(req));
  EXPECT_EQ(r.status, 200) << r.error_message << " " << r.body;
  util::Result<json::Value> v = json::Parse(r.body);
  return v.ok() ? *v : json::Value();
}

// Forgets faults, recorded requests and counters (in that order, so the control requests'
// own connection is not counted).
void ResetFake(FakeProcess& fake) {
  Control(fake, "DELETE", "/_faults");
  Control(fake, "DELETE", "/_requests");
}

json::Value Record(FakeProcess& fake) {
  util::Result<json::Value> v = fake.Record();
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : json::Value();
}

Request EchoRequest(const std::string& path_and_query) {
  Request req;
  req.url = Echo().Url(path_and_query);
  req.ca_file = S().Ca();
  return req;
}

// A loopback TCP port with nothing listening (bound, never listened on, then closed).
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// --- pure helpers --------------------------------------------------------------------------

TEST(HttpHeaders, ParsesTheThreeFormsOfRfc9110) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(ParseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(ParseHttpDate("Tue, 29 Feb 2028 12:00:00 GMT"), 1835438400);
  EXPECT_EQ(ParseHttpDate(util::HttpDate(1700000123)), 1700000123);
}

TEST(HttpHeaders, RejectsMalformedDates) {
  for (const char* bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC",
                          "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
                          "Sun, 29 Feb 2027 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                          "Sun, 06 Nov 1994 08:49:37 GMT x", "Sun, 06 Foo 1994 08:49:37 GMT"}) {
    EXPECT_FALSE(ParseHttpDate(bad)) << bad;
  }
}

TEST(HttpRetryAfter, DeltaSecondsAndDates) {
  const int64_t now = 1700000000;
  EXPECT_EQ(ParseRetryAfter("120", now), 120);
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), 0);
  EXPECT_EQ(ParseRetryAfter(util::HttpDate(now + 90), now), 90);
  EXPECT_EQ(ParseRetryAfter(util::HttpDate(now - 90), now), 0);  // already past
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", now), kMaxRetryAfterSeconds);
  EXPECT_EQ(ParseRetryAfter("999999", now), kMaxRetryAfterSeconds);
  EXPECT_FALSE(ParseRetryAfter("-5", now));
  EXPECT_FALSE(ParseRetryAfter("1.5", now));
  EXPECT_FALSE(ParseRetryAfter("12abc", now));
  EXPECT_FALSE(ParseRetryAfter("", now));
}

TEST(HttpRetryAfter, HeaderPrecedenceAndMilliseconds) {
  const int64_t now = 1700000000;
  HeaderMap h;
  EXPECT_FALSE(RetryAfterFromHeaders(h, now));
  h.emplace("retry-after", "30");
  EXPECT_EQ(RetryAfterFromHeaders(h, now), 30);
  h.emplace("x-ms-retry-after-ms", "1500");
  EXPECT_EQ(RetryAfterFromHeaders(h, now), 2);  // rounded up
  h.emplace("retry-after-ms", "1000");
  EXPECT_EQ(RetryAfterFromHeaders(h, now), 1);
  HeaderMap bad_ms{{"retry-after-ms", "soon"}, {"retry-after", "7"}};
  EXPECT_EQ(RetryAfterFromHeaders(bad_ms, now), 7);
  EXPECT_EQ(*FindHeader(bad_ms, "Retry-After"), "7");
}

TEST(HttpHeaders, AddHeaderLineLowercasesAndTrims) {
  HeaderMap h;
  AddHeaderLine(h, "HTTP/1.1 202 Accepted\r\n");
  AddHeaderLine(h, "Operation-Location: https://acs.example/emails/operations/1?x=a:b\r\n");
  AddHeaderLine(h, "Retry-After:\t30 \r\n");
  AddHeaderLine(h, "x-ms-request-id:\r\n");  // empty value
  AddHeaderLine(h, "Set-Cookie: a=1\r\n");
  AddHeaderLine(h, "set-cookie: b=2\r\n");  // repeated names are all kept
  AddHeaderLine(h, "\r\n");
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(*FindHeader(h, "operation-location"), "https://acs.example/emails/operations/1?x=a:b");
  EXPECT_EQ(*FindHeader(h, "RETRY-AFTER"), "30");
  EXPECT_EQ(*FindHeader(h, "x-ms-request-id"), "");
  EXPECT_EQ(h.count("set-cookie"), 2u);
}

TEST(HttpHeaders, AddHeaderLineIgnoresJunk) {
  HeaderMap h;
  for (const char* junk :
       {"", "\r\n", "\n", "no colon here\r\n", ": no name\r\n", " \t: blank name\r\n"}) {
    AddHeaderLine(h, junk);
  }
  EXPECT_TRUE(h.empty());
  AddHeaderLine(h, "Bare-LF: yes\n");
  AddHeaderLine(h, "No-Line-End:x");
  EXPECT_EQ(*FindHeader(h, "bare-lf"), "yes");
  EXPECT_EQ(*FindHeader(h, "no-line-end"), "x");
}

TEST(HttpHeaders, AStatusLineStartsTheNextResponse) {
  HeaderMap h;
  AddHeaderLine(h, "HTTP/1.1 100 Continue\r\n");
  AddHeaderLine(h, "X-Interim: 1\r\n");
  AddHeaderLine(h, "\r\n");
  AddHeaderLine(h, "HTTP/2 429 \r\n");
  EXPECT_TRUE(h.empty());  // nothing of the interim response is left
  AddHeaderLine(h, "retry-after: 5\r\n");
  EXPECT_EQ(RetryAfterFromHeaders(h, 0), 5);
  EXPECT_EQ(FindHeader(h, "x-interim"), nullptr);
}

TEST(HttpUrl, LoopbackHosts) {
  for (const char* h : {"localhost", "LocalHost", "127.0.0.1", "127.255.1.2", "::1", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"example.com", "10.0.0.1", "128.0.0.1", "::2", "[::ffff:10.0.0.1]",
                        "localhost.example.com", "127.0.0.1.nip.io", ""}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

TEST(HttpUrl, PlainHttpOnlyToLoopback) {
  EXPECT_TRUE(CheckUrlAllowed("https://graph.microsoft.com/v1.0/users").ok());
  EXPECT_TRUE(CheckUrlAllowed("http://127.0.0.1:8080/x").ok());
  EXPECT_TRUE(CheckUrlAllowed("http://localhost/").ok());
  EXPECT_TRUE(CheckUrlAllowed("http://[::1]:9/").ok());
  util::Status st = CheckUrlAllowed("http://example.com/path");
  EXPECT_EQ(st.code(), util::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("loopback"), std::string::npos) << st.message();
  EXPECT_FALSE(CheckUrlAllowed("http://10.1.2.3/").ok());
  EXPECT_FALSE(CheckUrlAllowed("http://127.0.0.1.nip.io/").ok());
  EXPECT_FALSE(CheckUrlAllowed("ftp://127.0.0.1/").ok());
  EXPECT_FALSE(CheckUrlAllowed("not a url").ok());
  util::Status creds = CheckUrlAllowed("https://user:hunter2@example.com/");
  EXPECT_FALSE(creds.ok());
  EXPECT_EQ(creds.message().find("hunter2"), std::string::npos) << creds.message();
}

TEST(HttpUrl, EncodingAndLogForm) {
  EXPECT_EQ(PercentEncode("a b/c?d=e&f~g.h_i-j"), "a%20b%2Fc%3Fd%3De%26f~g.h_i-j");
  EXPECT_EQ(PercentEncode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(FormEncode({{"scope", "https://graph.microsoft.com/.default"}, {"x y", "a+b c"}}),
            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&x+y=a%2Bb+c");
  EXPECT_EQ(UrlForLog("https://h.example:8443/p/q?sig=SECRET#frag"), "https://h.example:8443/p/q");
  EXPECT_EQ(UrlForLog("https://h.example"), "https://h.example:443/");
  EXPECT_EQ(UrlForLog("::"), "<invalid URL>");
}

// --- HttpClient ----------------------------------------------------------------------------

TEST(HttpClient, GetAndPostRoundTripOverHttps) {
  Loop loop;
  HttpClient client(loop.base());
  Response get = Fetch(loop, client, EchoRequest("/hello?x=1"));
  ASSERT_TRUE(get.ok()) << get.error_message;
  EXPECT_EQ(get.status, 200);
  ASSERT_NE(get.Header("Content-Type"), nullptr);
  EXPECT_EQ(*get.Header("content-type"), "application/json; charset=utf-8");
  util::Result<json::Value> echo = json::Parse(get.body);
  ASSERT_TRUE(echo.ok()) << get.body;
  EXPECT_EQ((*echo)["method"].as_string(), "GET");
  EXPECT_EQ((*echo)["path"].as_string(), "/hello");
  EXPECT_EQ((*echo)["query"].as_string(), "x=1");
  EXPECT_EQ((*echo)["headers"]["user-agent"].as_string(), "mailrelay/0.1");
  EXPECT_FALSE(get.retry_after_seconds);

  Request post = EchoRequest("/submit");
  post.method = "POST";
  post.body = std::string("{\"a\":1}") + std::string(1500000, ' ');  // no Expect: 100-continue
  post.headers = {{"Content-Type", "application/json"}, {"X-Custom", "v1"}, {"X-Empty", ""}};
  Response r = Fetch(loop, client, post);
  ASSERT_TRUE(r.ok()) << r.error_message;
  echo = json::Parse(r.body);
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ((*echo)["method"].as_string(), "POST");
  EXPECT_EQ((*echo)["body_size"].as_int(), static_cast<int64_t>(post.body.size()));
  EXPECT_EQ((*echo)["headers"]["content-type"].as_string(), "application/json");
  EXPECT_EQ((*echo)["headers"]["x-custom"].as_string(), "v1");
  EXPECT_EQ((*echo)["headers"]["x-empty"].as_string(), "");
  EXPECT_EQ((*echo)["headers"].Find("expect"), nullptr);
}

TEST(HttpClient, OtherMethods) {
  Loop loop;
  HttpClient client(loop.base());
  for (const char* method : {"PUT", "PATCH", "DELETE"}) {
    Request req = EchoRequest("/m");
    req.method = method;
    req.body = method == std::string("DELETE") ? "" : "data";
    Response r = Fetch(loop, client, req);
    ASSERT_TRUE(r.ok()) << method << ": " << r.error_message;
    util::Result<json::Value> echo = json::Parse(r.body);
    ASSERT_TRUE(echo.ok());
    EXPECT_EQ((*echo)["method"].as_string(), method);
    EXPECT_EQ((*echo)["body"].as_string(), req.body);
  }
  Request head = EchoRequest("/h");
  head.method = "HEAD";
  Response r = Fetch(loop, client, head);
  EXPECT_TRUE(r.ok()) << r.error_message;
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpClient, FiftyConcurrentRequestsOnOneLoop) {
  ResetFake(Echo());
  Loop loop;
  HttpClient client(loop.base(), {.max_concurrent = 64});
  int done = 0, good = 0;
  const auto start = Clock::now();
  for (int i = 0; i < 50; ++i) {
    client.Send(EchoRequest("/c/" + std::to_string(i) + "?delay_ms=500"), [&, i](Response r) {
      ++done;
      if (r.ok() && r.body.find("/c/" + std::to_string(i) + "\"") != std::string::npos) ++good;
    });
  }
  EXPECT_EQ(client.running(), 50u);
  ASSERT_TRUE(loop.RunUntil([&] { return done == 50; }, 60s));
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(good, 50);
  EXPECT_LT(elapsed, 12s) << "serially this would take 25 s";
  json::Value rec = Record(Echo());
  EXPECT_EQ(rec["count"].as_int(), 50);
  EXPECT_GE(rec["max_inflight"].as_int(), 10) << "requests were not concurrent";
}

TEST(HttpClient, ConcurrencyCapQueuesTheRest) {
  ResetFake(Echo());
  Loop loop;
  HttpClient client(loop.base(), {.max_concurrent = 4});
  int done = 0, good = 0;
  const auto start = Clock::now();
  for (int i = 0; i < 12; ++i) {
    client.Send(EchoRequest("/q?delay_ms=200"), [&](Response r) {
      ++done;
      good += r.ok();
    });
  }
  EXPECT_EQ(client.running(), 4u);
  EXPECT_EQ(client.queued(), 8u);
  ASSERT_TRUE(loop.RunUntil([&] { return done == 12; }, 60s));
  EXPECT_EQ(good, 12);
  EXPECT_GE(Clock::now() - start, 600ms);  // three waves of four
  json::Value rec = Record(Echo());
  EXPECT_LE(rec["max_inflight"].as_int(), 4);
  EXPECT_EQ(client.running() + client.queued(), 0u);
}

TEST(HttpClient, ReusesConnections) {
  ResetFake(Echo());
  Loop loop;
  HttpClient client(loop.base());
  for (int i = 0; i < 5; ++i) {
    Response r = Fetch(loop, client, EchoRequest("/keepalive"));
    ASSERT_TRUE(r.ok()) << r.error_message;
  }
  json::Value rec = Record(Echo());
  EXPECT_EQ(rec["count"].as_int(), 5);
  EXPECT_EQ(rec["connections"].as_int(), 1) << "HTTP keep-alive did not reuse the connection";
}

TEST(HttpClient, TotalTimeoutAgainstHangingServer) {
  Loop loop;
  HttpClient client(loop.base());
  for (int round = 0; round < 2; ++round) {  // on a new connection, then on a reused one
    if (round == 1) {
      ASSERT_TRUE(Fetch(loop, client, EchoRequest("/warm-up")).ok());
    }
    Request req = EchoRequest("/slow?hang=1");
    req.timeout = 500ms;
    const auto start = Clock::now();
    Response r = Fetch(loop, client, req);
    EXPECT_EQ(r.error, TransportError::kTimeout) << r.error_message;
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.error_message.find("timed out after 500 ms"), std::string::npos) << r.error_message;
    EXPECT_EQ(r.TransportStatus().code(), util::Code::kTimeout);
    EXPECT_LT(Clock::now() - start, 5s);
  }
}

TEST(HttpClient, ConnectTimeoutWhenTlsNeverStarts) {
  // Accepts TCP (the kernel does) but never speaks TLS: the handshake cannot finish.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  Loop loop;
  HttpClient client(loop.base());
  Request req;
  req.url = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  req.connect_timeout = 300ms;
  Response r = Fetch(loop, client, req);
  close(fd);
  EXPECT_EQ(r.error, TransportError::kConnectTimeout) << r.error_message;
  EXPECT_EQ(r.TransportStatus().code(), util::Code::kTimeout);
}

TEST(HttpClient, ConnectionRefused) {
  Loop loop;
  HttpClient client(loop.base());
  Request req;
  req.method = "POST";
  req.url = "https://127.0.0.1:" + std::to_string(UnusedPort()) + "/send?sig=QUERYSECRET";
  req.headers = {{"Authorization", "Bearer HEADERSECRET"}};
  req.body = "BODYSECRET";
  Response r = Fetch(loop, client, req);
  EXPECT_EQ(r.error, TransportError::kConnectionRefused) << r.error_message;
  EXPECT_NE(r.error_message.find("connection refused"), std::string::npos) << r.error_message;
  for (const char* secret : {"QUERYSECRET", "HEADERSECRET", "BODYSECRET"}) {
    EXPECT_EQ(r.error_message.find(secret), std::string::npos) << r.error_message;
  }
  EXPECT_EQ(r.TransportStatus().code(), util::Code::kUnavailable);
}

TEST(HttpClient, UnknownCaFailsVerification) {
  Loop loop;
  HttpClient client(loop.base());
  Request req = EchoRequest("/");
  req.ca_file.clear();  // only the system store, which does not know the test CA
  Response r = Fetch(loop, client, req);
  EXPECT_EQ(r.error, TransportError::kTlsVerify) << r.error_message;
  EXPECT_NE(r.error_message.find("TLS certificate verification failed"), std::string::npos)
      << r.error_message;
  EXPECT_NE(r.error_message.find("issuer"), std::string::npos) << r.error_message;
}

TEST(HttpClient, WrongNameAndExpiredAndUntrustedCertificatesFail) {
  struct Case {
    const char* cert;
    const char* says;
  };
  for (const Case& c :
       {Case{"wrongname", "name"}, Case{"expired", "expired"}, Case{"untrusted", "issuer"}}) {
    std::unique_ptr<FakeProcess> fake = StartFake("fakebase.py", c.cert, {"--cert", c.cert});
    ASSERT_TRUE(fake);
    Loop loop;
    HttpClient client(loop.base());
    Request req;
    req.url = fake->Url("/");
    req.ca_file = S().Ca();
    Response r = Fetch(loop, client, req);
    EXPECT_EQ(r.error, TransportError::kTlsVerify) << c.cert << ": " << r.error_message;
    EXPECT_NE(r.error_message.find(c.says), std::string::npos) << r.error_message;
    // Turning verification off is possible (and must be explicit).
    req.verify_host = c.cert != std::string("wrongname");
    req.verify_peer = c.cert == std::string("wrongname");
    r = Fetch(loop, client, req);
    EXPECT_TRUE(r.ok()) << c.cert << ": " << r.error_message;
  }
}

TEST(HttpClient, ExtraCaFileAddsToTheSystemStore) {
  // A stand-in "system" directory that trusts the test CA, plus an unrelated extra CA file:
  // the server is trusted only if both are consulted.
  const std::string sys = S().dir.path() + "/system-ca";
  ASSERT_EQ(mkdir(sys.c_str(), 0700), 0);
  util::Result<std::string> ca = util::ReadFile(S().Ca());
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(util::WriteFileAtomic(sys, "test-ca.pem", *ca, 0644).ok());
  ASSERT_TRUE(fakes::RunToCompletion({"/usr/bin/openssl", "rehash", sys}, sys + ".log").ok())
      << fakes::LogTail(sys + ".log");
  Loop loop;
  Request req = EchoRequest("/");
  req.ca_file = S().dir.path() + "/other-ca.pem";
  {
    HttpClient client(loop.base(), {.system_ca_dir = sys});
    Response r = Fetch(loop, client, req);
    EXPECT_TRUE(r.ok()) << r.error_message;
  }
  {
    HttpClient client(loop.base(), {.system_ca_dir = ""});
    Response r = Fetch(loop, client, req);
    EXPECT_EQ(r.error, TransportError::kTlsVerify) << r.error_message;
  }
  req.ca_file = S().dir.path() + "/no-such-file.pem";
  HttpClient client(loop.base(), {.system_ca_dir = ""});
  Response r = Fetch(loop, client, req);
  EXPECT_FALSE(r.transport_ok());
  EXPECT_NE(r.error_message.find("no-such-file.pem"), std::string::npos) << r.error_message;
}

TEST(HttpClient, ResponseSizeLimit) {
  Loop loop;
  HttpClient client(loop.base());
  Request req = EchoRequest("/big?bytes=20000");
  req.max_response_size = 10000;
  Response r = Fetch(loop, client, req);  // Content-Length says too much
  EXPECT_EQ(r.error, TransportError::kTooLarge) << r.error_message;
  EXPECT_NE(r.error_message.find("larger than 10000 bytes"), std::string::npos) << r.error_message;

  req.url = Echo().Url("/big?bytes=20000&chunked=1");  // no Content-Length: counted as it comes
  r = Fetch(loop, client, req);
  EXPECT_EQ(r.error, TransportError::kTooLarge) << r.error_message;
  EXPECT_LE(r.body.size(), 10000u);
  EXPECT_EQ(r.TransportStatus().code(), util::Code::kResourceExhausted);

  req.url = Echo().Url("/big?bytes=10000&chunked=1");  // exactly the limit is fine
  r = Fetch(loop, client, req);
  EXPECT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.body.size(), 10000u);
}

TEST(HttpClient, RetryAfterFromTheServer) {
  util::FakeClock clock(int64_t{1700000000} * 1000000);
  Loop loop;
  HttpClient client(loop.base(), {.clock = &clock});
  Response r = Fetch(loop, client, EchoRequest("/t?status=429&header=Retry-After:120"));
  EXPECT_TRUE(r.transport_ok()) << r.error_message;
  EXPECT_EQ(r.status, 429);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.retry_after_seconds, 120);

  const std::string date = util::HttpDate(1700000000 + 90);
  r = Fetch(loop, client,
            EchoRequest("/t?status=503&header=" + PercentEncode("Retry-After: " + date)));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.retry_after_seconds, 90);

  r = Fetch(loop, client, EchoRequest("/t?status=429&header=x-ms-retry-after-ms:2500"));
  EXPECT_EQ(r.retry_after_seconds, 3);
}

TEST(HttpClient, ServerFaultsBecomeTransportErrors) {
  ResetFake(Echo());
  Control(Echo(), "POST", "/_faults",
          R"([{"path": "/reset", "count": 1, "reset": true},
              {"path": "/garbage", "count": 1, "garbage": true},
              {"path": "/close", "count": 1, "close": true}])");
  Loop loop;
  HttpClient client(loop.base());
  Response r = Fetch(loop, client, EchoRequest("/reset"));
  EXPECT_EQ(r.error, TransportError::kConnectionLost) << r.error_message;
  r = Fetch(loop, client, EchoRequest("/garbage"));
  EXPECT_EQ(r.error, TransportError::kProtocol) << r.error_message;
  r = Fetch(loop, client, EchoRequest("/close"));
  EXPECT_EQ(r.error, TransportError::kConnectionLost) << r.error_message;
  r = Fetch(loop, client, EchoRequest("/reset"));  // the fault was used up
  EXPECT_TRUE(r.ok()) << r.error_message;
}

TEST(HttpClient, PlainHttpRefusedForNonLoopbackBeforeSending) {
  Loop loop;
  HttpClient client(loop.base());
  for (const char* url : {"http://example.com/x", "http://192.0.2.1/x", "gopher://127.0.0.1/"}) {
    std::optional<Response> out;
    Request req;
    req.url = url;
    client.Send(req, [&](Response r) { out = std::move(r); });
    EXPECT_FALSE(out) << "called back from inside Send()";
    ASSERT_TRUE(loop.RunUntil([&] { return out.has_value(); }));
    EXPECT_EQ(out->error, TransportError::kInvalidRequest) << url;
    EXPECT_EQ(out->status, 0);
    EXPECT_EQ(out->TransportStatus().code(), util::Code::kInvalidArgument);
  }
  Request req;
  req.url = "http://example.com/x";
  Response r = Fetch(loop, client, req);
  EXPECT_NE(r.error_message.find("only allowed to loopback"), std::string::npos) << r.error_message;
}

TEST(HttpClient, PlainHttpToLoopbackWorks) {
  std::unique_ptr<FakeProcess> plain = StartFake("fakebase.py", "plain", {"--plain"});
  ASSERT_TRUE(plain);
  Loop loop;
  HttpClient client(loop.base());
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    Request req;
    req.url = "http://" + host + ":" + std::to_string(plain->port()) + "/plain";
    Response r = Fetch(loop, client, req);
    EXPECT_TRUE(r.ok()) << host << ": " << r.error_message;
  }
}

TEST(HttpClient, BadRequestShapesAreRefused) {
  Loop loop;
  HttpClient client(loop.base());
  Request req = EchoRequest("/");
  req.headers = {{"Authorization", "Bearer abc\r\nX-Injected: 1"}};
  Response r = Fetch(loop, client, req);
  EXPECT_EQ(r.error, TransportError::kInvalidRequest);
  EXPECT_EQ(r.error_message.find("Bearer"), std::string::npos) << r.error_message;
  req = EchoRequest("/");
  req.headers = {{"Bad Name", "x"}};
  EXPECT_EQ(Fetch(loop, client, req).error, TransportError::kInvalidRequest);
  req.headers = {{std::string("X-Nul\0", 6), "x"}};
  EXPECT_EQ(Fetch(loop, client, req).error, TransportError::kInvalidRequest);
  req = EchoRequest("/");
  req.method = "get";
  EXPECT_EQ(Fetch(loop, client, req).error, TransportError::kInvalidRequest);
  req = EchoRequest("/");
  req.body = "x";  // GET with a body
  EXPECT_EQ(Fetch(loop, client, req).error, TransportError::kInvalidRequest);
}

TEST(HttpClient, CancelDropsTheCallback) {
  Loop loop;
  HttpClient client(loop.base(), {.max_concurrent = 1});
  int calls = 0;
  auto running = client.Send(EchoRequest("/c?hang=1"), [&](Response) { ++calls; });
  auto queued = client.Send(EchoRequest("/c?hang=1"), [&](Response) { ++calls; });
  auto refused = client.Send(Request{.url = "http://example.com/"}, [&](Response) { ++calls; });
  std::optional<Response> last;
  client.Send(EchoRequest("/after"), [&](Response r) { last = std::move(r); });
  EXPECT_TRUE(client.Cancel(queued));
  EXPECT_TRUE(client.Cancel(refused));
  EXPECT_TRUE(client.Cancel(running));
  EXPECT_FALSE(client.Cancel(running));
  EXPECT_FALSE(client.Cancel(12345));
  ASSERT_TRUE(loop.RunUntil([&] { return last.has_value(); }));  // the slot was freed
  EXPECT_TRUE(last->ok()) << last->error_message;
  loop.RunFor(200ms);
  EXPECT_EQ(calls, 0);
}

TEST(HttpClient, DestroyingTheClientDropsOutstandingCallbacks) {
  Loop loop;
  int calls = 0;
  {
    HttpClient client(loop.base(), {.max_concurrent = 2});
    for (int i = 0; i < 4; ++i) client.Send(EchoRequest("/d?hang=1"), [&](Response) { ++calls; });
    loop.RunFor(300ms);  // connected and waiting
    EXPECT_EQ(client.running(), 2u);
    EXPECT_EQ(client.queued(), 2u);
    // Refused at once, but the answer would only come on the next loop iteration.
    client.Send(Request{.url = "http://example.com/"}, [&](Response) { ++calls; });
  }
  loop.RunFor(200ms);
  EXPECT_EQ(calls, 0);
}

TEST(HttpClient, CallbackMayDestroyTheClientAndSendMore) {
  Loop loop;
  auto client = std::make_unique<HttpClient>(loop.base());
  int calls = 0;
  std::optional<Response> chained;
  client->Send(EchoRequest("/one"), [&](Response r) {
    ++calls;
    EXPECT_TRUE(r.ok());
    // A new request from inside a callback is fine...
    client->Send(EchoRequest("/two"), [&](Response r2) {
      chained = std::move(r2);
      client.reset();  // ...and so is destroying the client from a callback.
    });
  });
  client->Send(EchoRequest("/x?hang=1"), [&](Response) { ++calls; });
  ASSERT_TRUE(loop.RunUntil([&] { return chained.has_value(); }));
  EXPECT_TRUE(chained->ok()) << chained->error_message;
  EXPECT_FALSE(client);
  loop.RunFor(100ms);
  EXPECT_EQ(calls, 1);
}

// --- Entra ID tokens -------------------------------------------------------------------------

class HttpToken : public ::testing::Test {
 protected:
  void SetUp() override {
    ResetFake(Entra());
    Control(Entra(), "POST", "/_config", R"({"expires_in": 3599})");
  }

  TokenConfig Config(const std::string& tenant = "t1", const std::string& client = "app1",
                     const std::string& secret = kSecret1) {
    TokenConfig c;
    c.authority = Entra().Url("");
    c.tenant = tenant;
    c.client_id = client;
    c.client_secret = secret;
    c.scope = kGraphScope;
    c.ca_file = S().Ca();
    return c;
  }

  util::Result<AccessToken> GetOne(TokenSource& source) {
    std::optional<util::Result<AccessToken>> out;
    source.Get([&](util::Result<AccessToken> r) { out = std::move(r); });
    EXPECT_FALSE(out) << "Get() called back synchronously";
    EXPECT_TRUE(loop_.RunUntil([&] { return out.has_value(); }));
    return out ? std::move(*out) : util::Result<AccessToken>(util::Internal("no answer"));
  }

  int64_t Requests() { return Record(Entra())["count"].as_int(); }

  Loop loop_;
  HttpClient client_{loop_.base()};
  util::FakeClock clock_;
};

TEST_F(HttpToken, FetchesTheTokenAndCachesIt) {
  TokenSource source(&client_, Config(), &clock_);
  util::Result<AccessToken> t = GetOne(source);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->type, "Bearer");
  EXPECT_EQ(t->lifetime_seconds, 3599);
  EXPECT_EQ(t->AuthorizationValue(), "Bearer " + t->value);
  EXPECT_EQ(t->value.substr(0, 3), "eyJ");  // a JWT

  json::Value rec = Record(Entra());
  ASSERT_EQ(rec["count"].as_int(), 1);
  const json::Value& req = rec["requests"][0];
  EXPECT_EQ(req["method"].as_string(), "POST");
  EXPECT_EQ(req["path"].as_string(), "/t1/oauth2/v2.0/token");
  EXPECT_EQ(req["headers"]["content-type"].as_string(), "application/x-www-form-urlencoded");
  EXPECT_EQ(req["grant_type"].as_string(), "client_credentials");
  EXPECT_EQ(req["client_id"].as_string(), "app1");
  EXPECT_EQ(req["scope"].as_string(), kGraphScope);
  EXPECT_EQ(req["outcome"].as_string(), "issued");  // so the secret with & = + % / arrived intact

  util::Result<AccessToken> again = GetOne(source);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->value, t->value);
  ASSERT_TRUE(source.Cached());
  EXPECT_EQ(source.Cached()->value, t->value);
  EXPECT_EQ(Requests(), 1);
  EXPECT_EQ(source.fetch_count(), 1u);
}

TEST_F(HttpToken, FiftyConcurrentGetsShareOneFetch) {
  Control(Entra(), "POST", "/_faults", R"({"delay": 0.3})");
  TokenSource source(&client_, Config(), &clock_);
  std::vector<std::string> tokens;
  for (int i = 0; i < 50; ++i) {
    source.Get([&](util::Result<AccessToken> r) {
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      tokens.push_back(r.ok() ? r->value : "");
    });
  }
  EXPECT_TRUE(source.fetching());
  ASSERT_TRUE(loop_.RunUntil([&] { return tokens.size() == 50; }));
  for (const std::string& t : tokens) EXPECT_EQ(t, tokens[0]);
  EXPECT_EQ(Requests(), 1);
}

TEST_F(HttpToken, RefreshesShortlyBeforeExpiry) {
  Control(Entra(), "POST", "/_config", R"({"expires_in": 3600})");
  TokenSource source(&client_, Config(), &clock_);
  util::Result<AccessToken> first = GetOne(source);
  ASSERT_TRUE(first.ok());
  // Margin = min(5 min, 10% of 3600 s) = 300 s.
  clock_.Advance(int64_t{3600 - 301} * 1000000);
  EXPECT_EQ(GetOne(source)->value, first->value);
  EXPECT_EQ(Requests(), 1);
  clock_.Advance(int64_t{2} * 1000000);
  EXPECT_FALSE(source.Cached());
  util::Result<AccessToken> second = GetOne(source);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->value, first->value);
  EXPECT_EQ(Requests(), 2);

  // Short lifetime: margin = 10% of 600 s = 60 s.
  Control(Entra(), "POST", "/_config", R"({"expires_in": 600})");
  source.Invalidate();
  ASSERT_TRUE(GetOne(source).ok());
  EXPECT_EQ(Requests(), 3);
  clock_.Advance(int64_t{539} * 1000000);
  ASSERT_TRUE(GetOne(source).ok());
  EXPECT_EQ(Requests(), 3);
  clock_.Advance(int64_t{2} * 1000000);
  ASSERT_TRUE(GetOne(source).ok());
  EXPECT_EQ(Requests(), 4);
}

TEST_F(HttpToken, InvalidateAfter401ForcesAFetchOnce) {
  TokenSource source(&client_, Config(), &clock_);
  util::Result<AccessToken> a = GetOne(source);
  ASSERT_TRUE(a.ok());
  source.Invalidate(a->value);  // the API answered 401 with token a
  EXPECT_FALSE(source.Cached());
  util::Result<AccessToken> b = GetOne(source);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->value, a->value);
  EXPECT_EQ(Requests(), 2);
  source.Invalidate(a->value);  // a late 401 for the old token keeps the new one
  EXPECT_EQ(GetOne(source)->value, b->value);
  EXPECT_EQ(Requests(), 2);
  source.Invalidate();
  EXPECT_NE(GetOne(source)->value, b->value);
  EXPECT_EQ(Requests(), 3);
}

TEST_F(HttpToken, InvalidClientIsPermanent) {
  TokenSource source(&client_, Config("t1", "app1", "wrong-secret-value"), &clock_);
  util::Result<AccessToken> t = GetOne(source);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(IsPermanentTokenError(t.status()));
  EXPECT_EQ(t.status().code(), util::Code::kPermissionDenied);
  const std::string& msg = t.status().message();
  EXPECT_NE(msg.find("401"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid_client"), std::string::npos) << msg;
  EXPECT_NE(msg.find("AADSTS7000215"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("wrong-secret-value"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\r'), std::string::npos) << msg;
  // Remembered for a while: no request storm with a wrong secret.
  EXPECT_FALSE(GetOne(source).ok());
  EXPECT_EQ(Requests(), 1);
  clock_.Advance(int64_t{61} * 1000000);
  EXPECT_FALSE(GetOne(source).ok());
  EXPECT_EQ(Requests(), 2);

  for (TokenConfig c : {Config("t1", "no-such-app"), Config("no-such-tenant")}) {
    TokenSource other(&client_, c, &clock_);
    util::Result<AccessToken> r = GetOne(other);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(IsPermanentTokenError(r.status())) << r.status().ToString();
  }
  TokenConfig bad_scope = Config();
  bad_scope.scope = "https://graph.microsoft.com/Mail.Send";
  TokenSource scoped(&client_, bad_scope, &clock_);
  util::Result<AccessToken> r = GetOne(scoped);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsPermanentTokenError(r.status()));
  EXPECT_NE(r.status().message().find("invalid_scope"), std::string::npos);
}

TEST_F(HttpToken, ServerErrorsAndTimeoutsAreTransient) {
  Control(Entra(), "POST", "/_faults",
          R"([{"count": 1, "status": 500, "body": {"error": "server_error"}},
              {"count": 1, "status": 429, "headers": {"Retry-After": "5"}},
              {"count": 1, "hang": true}])");
  TokenConfig c = Config();
  c.timeout = 500ms;
  TokenSource source(&client_, c, &clock_);
  util::Result<AccessToken> r = GetOne(source);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), util::Code::kUnavailable) << r.status().ToString();
  EXPECT_FALSE(IsPermanentTokenError(r.status()));
  r = GetOne(source);  // not remembered: fetched again
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), util::Code::kUnavailable) << r.status().ToString();
  r = GetOne(source);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), util::Code::kTimeout) << r.status().ToString();
  EXPECT_FALSE(IsPermanentTokenError(r.status()));
  r = GetOne(source);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Requests(), 4);
}

TEST_F(HttpToken, BadConfigurationIsRefusedBeforeSending) {
  for (TokenConfig c :
       {Config("../etc"), Config("t1/x"), Config("t1", ""), Config("t1", "a", "")}) {
    TokenSource source(&client_, c, &clock_);
    util::Result<AccessToken> r = GetOne(source);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), util::Code::kInvalidArgument) << r.status().ToString();
    EXPECT_TRUE(IsPermanentTokenError(r.status()));
  }
  TokenConfig plain = Config();
  plain.authority = "http://login.example.com";
  TokenSource source(&client_, plain, &clock_);
  util::Result<AccessToken> r = GetOne(source);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsPermanentTokenError(r.status())) << r.status().ToString();
  EXPECT_EQ(Requests(), 0);
}

TEST_F(HttpToken, DestroyingASourceDropsWaiters) {
  Control(Entra(), "POST", "/_faults", R"({"count": 1, "hang": true})");
  int calls = 0;
  {
    TokenSource source(&client_, Config(), &clock_);
    source.Get([&](util::Result<AccessToken>) { ++calls; });
    loop_.RunFor(200ms);
    EXPECT_TRUE(source.fetching());
  }
  loop_.RunFor(200ms);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(client_.running(), 0u);
}

TEST_F(HttpToken, CacheKeepsTenantsAndSecretsApart) {
  TokenCache cache(&client_, &clock_);
  std::optional<util::Result<AccessToken>> a, b;
  cache.Get(Config("t1", "app1", kSecret1), [&](util::Result<AccessToken> r) { a = r; });
  cache.Get(Config("t2", "app2", kSecret2), [&](util::Result<AccessToken> r) { b = r; });
  ASSERT_TRUE(loop_.RunUntil([&] { return a && b; }));
  ASSERT_TRUE(a->ok() && b->ok());
  EXPECT_NE((*a)->value, (*b)->value);
  json::Value rec = Record(Entra());
  EXPECT_EQ(rec["count_by_tenant"]["t1"].as_int(), 1);
  EXPECT_EQ(rec["count_by_tenant"]["t2"].as_int(), 1);

  // Same tenant and client, wrong secret: must not get t1's cached token.
  std::optional<util::Result<AccessToken>> wrong;
  cache.Get(Config("t1", "app1", "not-the-secret"),
            [&](util::Result<AccessToken> r) { wrong = r; });
  ASSERT_TRUE(loop_.RunUntil([&] { return wrong.has_value(); }));
  ASSERT_FALSE(wrong->ok());
  EXPECT_TRUE(IsPermanentTokenError(wrong->status()));
  EXPECT_EQ(Record(Entra())["count_by_tenant"]["t1"].as_int(), 2);

  std::optional<util::Result<AccessToken>> again;
  cache.Get(Config("t1", "app1", kSecret1), [&](util::Result<AccessToken> r) { again = r; });
  ASSERT_TRUE(loop_.RunUntil([&] { return again.has_value(); }));
  ASSERT_TRUE(again->ok());
  EXPECT_EQ((*again)->value, (*a)->value);
  EXPECT_EQ(Record(Entra())["count_by_tenant"]["t1"].as_int(), 2);
  EXPECT_EQ(cache.size(), 3u);

  cache.Invalidate(Config("t1", "app1", kSecret1), (*a)->value);
  ASSERT_NE(cache.Find(Config("t1", "app1", kSecret1)), nullptr);
  EXPECT_FALSE(cache.Find(Config("t1", "app1", kSecret1))->Cached());
  EXPECT_TRUE(cache.Find(Config("t2", "app2", kSecret2))->Cached());
}

TEST_F(HttpToken, CacheEvictsIdleSourcesPastItsLimit) {
  TokenCache cache(&client_, &clock_, /*max_sources=*/2);
  int answers = 0;
  for (const char* tenant : {"t1", "t2", "t1"}) {
    TokenConfig c = tenant == std::string("t1") ? Config("t1", "app1", kSecret1)
                                                : Config("t2", "app2", kSecret2);
    cache.Get(c, [&](util::Result<AccessToken> r) { answers += r.ok(); });
    clock_.Advance(1000);
  }
  cache.Get(Config("t1", "app1", "x"), [&](util::Result<AccessToken>) { ++answers; });
  EXPECT_EQ(cache.size(), 3u);  // all busy: none evicted yet
  ASSERT_TRUE(loop_.RunUntil([&] { return answers == 4; }));
  std::optional<util::Result<AccessToken>> last;
  cache.Get(Config("t2", "app2", kSecret2), [&](util::Result<AccessToken> r) { last = r; });
  EXPECT_LE(cache.size(), 2u);
  ASSERT_TRUE(loop_.RunUntil([&] { return last.has_value(); }));
  EXPECT_TRUE(last->ok());
}

TEST(HttpTokenParse, ResponsesAndTheirClassification) {
  Response ok;
  ok.status = 200;
  ok.body =
      R"({"token_type":"Bearer","expires_in":"3599","ext_expires_in":3599,"access_token":"abc"})";
  util::Result<AccessToken> t = ParseTokenResponse(ok, 1000);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->value, "abc");
  EXPECT_EQ(t->expires_at_micros, 1000 + int64_t{3599} * 1000000);

  Response no_token;
  no_token.status = 200;
  no_token.body = R"({"token_type":"Bearer"})";
  EXPECT_EQ(ParseTokenResponse(no_token, 0).status().code(), util::Code::kUnavailable);
  no_token.body = "<html>proxy login</html>";
  EXPECT_EQ(ParseTokenResponse(no_token, 0).status().code(), util::Code::kUnavailable);

  Response bad;
  bad.status = 400;
  bad.body =
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"})";
  util::Result<AccessToken> e = ParseTokenResponse(bad, 0);
  EXPECT_TRUE(IsPermanentTokenError(e.status()));
  EXPECT_NE(e.status().message().find("Invalid client secret provided. Trace ID: x"),
            std::string::npos)
      << e.status().message();
  bad.body = R"({"error":"temporarily_unavailable"})";
  EXPECT_FALSE(IsPermanentTokenError(ParseTokenResponse(bad, 0).status()));
  for (int status : {500, 502, 503, 429, 408}) {
    Response r;
    r.status = status;
    EXPECT_EQ(ParseTokenResponse(r, 0).status().code(), util::Code::kUnavailable) << status;
  }
  Response timeout;
  timeout.error = TransportError::kTimeout;
  timeout.error_message = "timed out";
  EXPECT_EQ(ParseTokenResponse(timeout, 0).status().code(), util::Code::kTimeout);
}

TEST(HttpTokenParse, RequestShape) {
  TokenConfig c;
  c.authority = "https://login.microsoftonline.com/";
  c.tenant = "contoso.onmicrosoft.com";
  c.client_id = "00000000-1111-2222-3333-444444444444";
  c.client_secret = "a+b&c=d %/~";
  c.scope = kAcsScope;
  util::Result<std::string> url = TokenEndpoint(c);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
  EXPECT_EQ(TokenRequestBody(c),
            "grant_type=client_credentials&client_id=00000000-1111-2222-3333-444444444444"
            "&client_secret=a%2Bb%26c%3Dd+%25%2F~"
            "&scope=https%3A%2F%2Fcommunication.azure.com%2F%2F.default");
}

}  // namespace
}  // namespace mailrelay::http
