// One Connection on a real libevent loop against scripted SMTP servers on loopback threads:
// every address of the host is tried in order (IPv6 first here), a refused greeting moves
// on to the next address, a kept session starts its next message with RSET.
#include "deliver-smtp/connection.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace mailrelay::deliver_smtp {
namespace {

// Accepts connections on addr:port (port 0 = any) and talks SMTP: `greeting`, then 250 to
// everything, 354 to DATA, "250 2.0.0 Ok: queued as Q<n>" after the data. Records commands.
// close_after: drop the connection right after the n-th message's reply; hang_at_dot: never
// answer the final dot.
class ScriptedServer {
 public:
  ScriptedServer(const char* addr, int port, std::string greeting, int close_after = 0,
                 bool hang_at_dot = false)
      : greeting_(std::move(greeting)), close_after_(close_after), hang_at_dot_(hang_at_dot) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, addr, &sa.sin_addr);
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && listen(fd_, 8) == 0;
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    if (ok_) thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }
  std::vector<std::string> commands() {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_;
  }
  int sessions() const { return sessions_; }

 private:
  bool ReadLine(int fd, std::string* line) {
    line->clear();
    char c;
    while (true) {
      ssize_t n = recv(fd, &c, 1, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !stop_) continue;
      if (n <= 0) return false;
      line->push_back(c);
      if (c == '\n') return true;
    }
  }
  static void Send(int fd, const std::string& s) {
    (void)!send(fd, s.data(), s.size(), MSG_NOSIGNAL);
  }

  void Serve() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++sessions_;
      timeval tv{0, 200000};  // so a stop is noticed while a client sits idle
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      Send(c, greeting_ + "\r\n");
      std::string line;
      int queued = 0;
      while (ReadLine(c, &line)) {
        std::string cmd = line.substr(0, line.find_first_of(" \r"));
        {
          std::lock_guard<std::mutex> lock(mu_);
          commands_.push_back(cmd);
        }
        if (cmd == "EHLO") {
          Send(c, "250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        } else if (cmd == "DATA") {
          Send(c, "354 go ahead\r\n");
          while (ReadLine(c, &line) && line != ".\r\n") {
          }
          if (hang_at_dot_) {
            while (ReadLine(c, &line)) {
            }
            break;
          }
          Send(c, "250 2.0.0 Ok: queued as Q" + std::to_string(++queued) + "\r\n");
          if (close_after_ && queued >= close_after_) break;
        } else if (cmd == "QUIT") {
          Send(c, "221 2.0.0 Bye\r\n");
          break;
        } else {
          Send(c, "250 2.0.0 Ok\r\n");
        }
      }
      close(c);
    }
  }

  std::string greeting_;
  int close_after_;
  bool hang_at_dot_;
  int fd_ = -1;
  int port_ = 0;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> sessions_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> commands_;
};

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { base_ = event_base_new(); }
  void TearDown() override {
    resolver_.reset();
    event_base_free(base_);
  }

  // A host "upstream.test" whose lookup yields `ips` in this order.
  void UseHost(std::vector<std::string> ips, int port) {
    resolver_ = std::make_unique<Resolver>(
        base_, [ips](const std::string& host) -> util::Result<std::vector<Endpoint>> {
          if (host != "upstream.test") return util::NotFound("no such host " + host);
          std::vector<Endpoint> out;
          for (const auto& ip : ips) out.push_back(*LiteralEndpoint(ip, 0));
          return out;
        });
    settings_.base = base_;
    settings_.relay = *ParseRelayHost("upstream.test", port);
    settings_.tls = config::SmtpTls::kNone;
    settings_.helo_name = "relay.test";
    settings_.resolver = resolver_.get();
    settings_.connect_timeout = 5;
    settings_.timeout = 5;
    settings_.data_timeout = 5;
  }

  static std::shared_ptr<agent::DeliveryJob> Job() {
    auto j = std::make_shared<agent::DeliveryJob>();
    j->id = 1;
    j->queue_id = "QID";
    j->sender = "s@example.org";
    j->recipients.push_back({0, "r@example.com"});
    j->body = "Subject: t\r\n\r\n.dot\r\nbody\r\n";
    return j;
  }

  // Runs the loop until the message has its outcome (or 15 s pass).
  Outcome Deliver(Connection* c) {
    std::optional<Outcome> got;
    c->Deliver(Job(), [&](Outcome o) {
      got = std::move(o);
      event_base_loopbreak(base_);
    });
    timeval limit{15, 0};
    event_base_loopexit(base_, &limit);
    if (!got) event_base_dispatch(base_);
    EXPECT_TRUE(got.has_value());
    return got ? *got : Outcome();
  }

  event_base* base_ = nullptr;
  std::unique_ptr<Resolver> resolver_;
  Settings settings_;
};

TEST_F(ConnectionTest, EveryAddressIsTriedInOrderIpv6First) {
  ScriptedServer server("127.0.0.1", 0, "220 scripted ESMTP");
  ASSERT_TRUE(server.ok());
  UseHost({"::1", "127.0.0.1"}, server.port());  // nothing listens on [::1]:port
  bool closed = false;
  Connection c(&settings_, 1, [&](Connection*) { closed = true; });
  Outcome o = Deliver(&c);
  ASSERT_EQ(o.result.results.size(), 1u);
  EXPECT_EQ(o.result.results[0].code, 250) << o.result.results[0].text;
  EXPECT_EQ(o.relay, "upstream.test[127.0.0.1]:" + std::to_string(server.port()));
  EXPECT_EQ(o.result.info,
            "relay=upstream.test[127.0.0.1]:" + std::to_string(server.port()) + " queued_as=Q1");
  EXPECT_TRUE(c.usable());
  EXPECT_FALSE(closed);
  EXPECT_EQ(c.messages(), 1);
}

TEST_F(ConnectionTest, EveryAddressRefusedDefersWithTheLastError) {
  int port;
  {
    ScriptedServer probe("127.0.0.1", 0, "220 x");  // a port that is free once this closes
    port = probe.port();
  }
  UseHost({"::1", "127.0.0.1"}, port);
  Connection c(&settings_, 1, nullptr);
  Outcome o = Deliver(&c);
  ASSERT_EQ(o.result.results.size(), 1u);
  EXPECT_EQ(o.result.results[0].code, 451);
  EXPECT_EQ(o.result.results[0].enhanced, "4.4.1");
  EXPECT_EQ(o.result.results[0].text,
            "connect to upstream.test[127.0.0.1]:" + std::to_string(port) + ": Connection refused");
  EXPECT_TRUE(c.closed());
}

TEST_F(ConnectionTest, RefusedGreetingMovesOnToTheNextAddress) {
  ScriptedServer refusing("127.0.0.1", 0, "554 5.7.1 go away");
  ASSERT_TRUE(refusing.ok());
  ScriptedServer good("127.0.0.2", refusing.port(), "220 scripted ESMTP");
  if (!good.ok()) GTEST_SKIP() << "cannot bind 127.0.0.2 here";
  UseHost({"127.0.0.1", "127.0.0.2"}, refusing.port());
  Connection c(&settings_, 1, nullptr);
  Outcome o = Deliver(&c);
  EXPECT_EQ(o.result.results[0].code, 250) << o.result.results[0].text;
  EXPECT_EQ(o.relay, "upstream.test[127.0.0.2]:" + std::to_string(refusing.port()));
  EXPECT_EQ(refusing.sessions(), 1);
}

TEST_F(ConnectionTest, UnknownHostDefers) {
  UseHost({}, 25);
  settings_.relay = *ParseRelayHost("elsewhere.test", 25);
  Connection c(&settings_, 1, nullptr);
  Outcome o = Deliver(&c);
  EXPECT_EQ(o.result.results[0].code, 451);
  EXPECT_EQ(o.result.results[0].enhanced, "4.4.3");
  EXPECT_EQ(o.result.results[0].text, "no such host elsewhere.test");
}

TEST_F(ConnectionTest, KeptSessionStartsTheNextMessageWithRsetAndQuitsPolitely) {
  ScriptedServer server("127.0.0.1", 0, "220 scripted ESMTP");
  ASSERT_TRUE(server.ok());
  UseHost({"127.0.0.1"}, server.port());
  bool closed = false;
  Connection c(&settings_, 1, [&](Connection*) {
    closed = true;
    event_base_loopbreak(base_);
  });
  EXPECT_EQ(Deliver(&c).result.results[0].code, 250);
  c.Park(60);
  Outcome second = Deliver(&c);
  EXPECT_EQ(second.result.results[0].code, 250);
  EXPECT_EQ(second.result.info,
            "relay=upstream.test[127.0.0.1]:" + std::to_string(server.port()) + " queued_as=Q2");
  EXPECT_EQ(c.messages(), 2);
  c.Quit();
  timeval limit{5, 0};
  event_base_loopexit(base_, &limit);
  if (!closed) event_base_dispatch(base_);
  EXPECT_TRUE(closed);
  EXPECT_EQ(server.sessions(), 1);
  std::vector<std::string> want = {"EHLO", "MAIL", "RCPT", "DATA", "RSET",
                                   "MAIL", "RCPT", "DATA", "QUIT"};
  for (int i = 0; i < 50 && server.commands().size() < want.size(); ++i) usleep(20000);
  EXPECT_EQ(server.commands(), want);
}

TEST_F(ConnectionTest, KeptSessionTheServerDroppedAsksForAFreshConnection) {
  ScriptedServer server("127.0.0.1", 0, "220 scripted ESMTP", /*close_after=*/1);
  ASSERT_TRUE(server.ok());
  UseHost({"127.0.0.1"}, server.port());
  Connection c(&settings_, 1, nullptr);
  EXPECT_EQ(Deliver(&c).result.results[0].code, 250);
  usleep(100000);  // the server has closed; the loop has not noticed yet, or just has
  Outcome o = Deliver(&c);
  EXPECT_TRUE(o.retry);  // nothing of the second message was sent: safe to try again
  EXPECT_EQ(o.result.results[0].code, 451);
}

TEST_F(ConnectionTest, AbortDefersTheMessageInProgress) {
  ScriptedServer server("127.0.0.1", 0, "220 scripted ESMTP", 0, /*hang_at_dot=*/true);
  ASSERT_TRUE(server.ok());
  UseHost({"127.0.0.1"}, server.port());
  Connection c(&settings_, 1, nullptr);
  event* later = evtimer_new(
      base_,
      [](int, short, void* arg) { static_cast<Connection*>(arg)->Abort("delivery took too long"); },
      &c);
  timeval tv{0, 300000};
  evtimer_add(later, &tv);
  Outcome o = Deliver(&c);
  event_free(later);
  EXPECT_FALSE(o.retry);
  EXPECT_EQ(o.result.results[0].code, 451);
  EXPECT_EQ(o.result.results[0].enhanced, "4.4.2");
  EXPECT_EQ(o.result.results[0].text, "delivery took too long");
  EXPECT_TRUE(c.closed());
}

TEST_F(ConnectionTest, FinalDotTimeoutSaysTheMessageMayBeSentTwice) {
  ScriptedServer server("127.0.0.1", 0, "220 scripted ESMTP", 0, /*hang_at_dot=*/true);
  ASSERT_TRUE(server.ok());
  UseHost({"127.0.0.1"}, server.port());
  settings_.data_timeout = 1;
  Connection c(&settings_, 1, nullptr);
  Outcome o = Deliver(&c);
  EXPECT_EQ(o.result.results[0].code, 451);
  EXPECT_EQ(o.result.results[0].text,
            "conversation with upstream.test[127.0.0.1] timed out while sending end of data -- "
            "message may be "
            "sent more than once");
}

}  // namespace
}  // namespace mailrelay::deliver_smtp
