// The pure pieces of qmgr: queue ids, routing, retry backoff, rate windows, DSN text.
#include <set>

#include <gtest/gtest.h>

#include "qmgr/dsn.h"
#include "qmgr/queue_id.h"
#include "qmgr/rate_window.h"
#include "qmgr/retry.h"
#include "qmgr/router.h"

namespace mailrelay::qmgr {
namespace {

TEST(QueueId, UniqueSortableAndValid) {
  util::FakeClock clock;
  QueueIdGenerator gen(clock);
  std::vector<std::string> ids;
  for (int i = 0; i < 5000; ++i) {
    if (i % 100 == 0) clock.Advance(1);
    ids.push_back(gen.Next());
  }
  std::set<std::string> uniq(ids.begin(), ids.end());
  EXPECT_EQ(uniq.size(), ids.size());
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  for (const auto& id : ids) EXPECT_TRUE(IsValidQueueId(id)) << id;
  clock.Advance(-1000000);  // the clock stepping back never repeats an id
  EXPECT_GT(gen.Next(), ids.back());
  EXPECT_FALSE(IsValidQueueId("0123456789AI"));
  EXPECT_FALSE(IsValidQueueId("SHORT"));
}

config::RouteConfig Routes() {
  config::RouteConfig r;
  r.default_backend = config::Backend::kSmtp;
  r.domains["example.org"] = config::Backend::kGraph;
  r.domains[".sub.example.net"] = config::Backend::kSes;
  r.senders.push_back({"billing@example.com", config::Backend::kAzure});
  r.senders.push_back({"@example.com", config::Backend::kFile});
  r.senders.push_back({"@.ops.example.com", config::Backend::kSes});
  r.fallback = config::Backend::kFile;
  return r;
}

TEST(Router, SenderRulesWinExactBeforeDomain) {
  Router r(Routes(), config::QueueConfig{});
  EXPECT_EQ(r.Primary("Billing@Example.COM", "x@example.org"), config::Backend::kAzure);
  EXPECT_EQ(r.Primary("other@example.com", "x@example.org"), config::Backend::kFile);
  EXPECT_EQ(r.Primary("a@db.ops.example.com", "x@anywhere.test"), config::Backend::kSes);
  EXPECT_EQ(r.Primary("a@ops.example.com", "x@anywhere.test"), config::Backend::kSmtp);  // subdomains only
}

TEST(Router, RecipientDomainsThenDefault) {
  Router r(Routes(), config::QueueConfig{});
  EXPECT_EQ(r.Primary("", "x@Example.ORG"), config::Backend::kGraph);
  EXPECT_EQ(r.Primary("", "x@a.sub.example.net"), config::Backend::kSes);
  EXPECT_EQ(r.Primary("", "x@sub.example.net"), config::Backend::kSmtp);
  EXPECT_EQ(r.Primary("", "postmaster"), config::Backend::kSmtp);
  EXPECT_EQ(r.FallbackAfter(), 3);
  config::QueueConfig q;
  q.max_attempts = 5;
  EXPECT_EQ(Router(Routes(), q).FallbackAfter(), 5);
}

TEST(Retry, DoublesUpToTheCapWithJitterAndHonoursRetryAfter) {
  EXPECT_EQ(RetryDelay(1, 300, 3600, 0, 0.5), 300);
  EXPECT_EQ(RetryDelay(2, 300, 3600, 0, 0.5), 600);
  EXPECT_EQ(RetryDelay(4, 300, 3600, 0, 0.5), 2400);
  EXPECT_EQ(RetryDelay(5, 300, 3600, 0, 0.5), 3600);
  EXPECT_EQ(RetryDelay(40, 300, 3600, 0, 0.5), 3600);
  EXPECT_EQ(RetryDelay(1, 300, 3600, 0, 0.0), 270);   // -10%
  EXPECT_EQ(RetryDelay(1, 300, 3600, 0, 0.999), 329);  // almost +10%
  EXPECT_EQ(RetryDelay(3, 300, 3600, 20, 0.5), 20);    // the backend said when
  EXPECT_EQ(RetryDelay(1, 300, 3600, 999999, 0.5), 86400);
}

TEST(RateWindow, AtMostNInAnyWindow) {
  RateWindow w;
  w.Configure(config::Rate{3, 60});
  int64_t t = 1000000000;
  EXPECT_EQ(w.Available(t), 3u);
  w.Record(t);
  w.Record(t + 1000000);
  w.Record(t + 2000000);
  EXPECT_EQ(w.Available(t + 3000000), 0u);
  EXPECT_EQ(w.WaitUs(t + 3000000), 57000000);
  EXPECT_EQ(w.Available(t + 60000000), 1u);  // the first start left the window
  EXPECT_EQ(w.Available(t + 62000000), 3u);
  RateWindow off;
  EXPECT_GT(off.Available(t), 1000u);
}

TEST(Dsn, HasTheRfc3464Structure) {
  DsnInput in;
  in.hostname = "relay.example";
  in.queue_id = "ABC";
  in.original_sender = "s@example.org";
  in.arrival = 1700000000;
  in.now = 1700000100;
  in.original_headers = "Subject: hi\r\nFrom: s@example.org\r\n";
  in.recipients.push_back({"r@example.com", "failed", "5.1.1", "550 5.1.1 no such user\r\nInjected: x", "smtp", ""});
  std::string d = BuildDsn(in, "<id@relay.example>");
  EXPECT_NE(d.find("Content-Type: multipart/report; report-type=delivery-status;"), std::string::npos);
  EXPECT_NE(d.find("Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example\r\n"), std::string::npos);
  EXPECT_NE(d.find("Final-Recipient: rfc822; r@example.com\r\nOriginal-Recipient: rfc822; r@example.com\r\n"
                   "Action: failed\r\nStatus: 5.1.1\r\n"),
            std::string::npos);
  EXPECT_NE(d.find("Content-Type: text/rfc822-headers\r\n\r\nSubject: hi\r\n"), std::string::npos);
  EXPECT_NE(d.find("From: MAILER-DAEMON@relay.example"), std::string::npos);
  EXPECT_NE(d.find("Auto-Submitted: auto-replied"), std::string::npos);
  // An upstream's reply text cannot inject a header line into the report.
  EXPECT_EQ(d.find("\r\nInjected: x"), std::string::npos);
  EXPECT_EQ(HeaderSection("A: 1\r\nB: 2\r\n\r\nbody"), "A: 1\r\nB: 2\r\n");
  EXPECT_NE(d.find("To: <s@example.org>\r\n"), std::string::npos);
}

TEST(Dsn, APostmasterNoticeCarriesTheFailedBounceWhole) {
  DsnInput in;
  in.hostname = "relay.example";
  in.queue_id = "DEF";
  in.postmaster = "postmaster@relay.example";
  in.postmaster_copy = true;
  in.original_headers = "Subject: Undelivered Mail Returned to Sender\r\n";
  in.original_message = in.original_headers + "\r\nQueue id: ABC (about the lost message)\r\n";
  in.recipients.push_back({"s@example.org", "failed", "5.1.1", "550 5.1.1 gone", "smtp", ""});
  std::string d = BuildDsn(in, "<id2@relay.example>");
  EXPECT_NE(d.find("To: <postmaster@relay.example>\r\n"), std::string::npos);
  EXPECT_NE(d.find("Subject: Postmaster notice: undeliverable bounce\r\n"), std::string::npos);
  EXPECT_NE(d.find("Content-Type: message/rfc822\r\n\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n"
                   "Queue id: ABC (about the lost message)\r\n"),
            std::string::npos);
  EXPECT_EQ(d.find("text/rfc822-headers"), std::string::npos);
}

}  // namespace
}  // namespace mailrelay::qmgr
