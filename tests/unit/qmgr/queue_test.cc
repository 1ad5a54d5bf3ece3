// The queue's decisions with a fake clock and a real spool: what is due, what a result does
// (delivered, deferred with backoff, fallback, expired, bounced with a DSN), the operator's
// verbs, and recovery after a qmgr restart.
#include <event2/event.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "common/config/config.h"
#include "qmgr/queue.h"

namespace mailrelay::qmgr {
namespace {

class QueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mr-queue-XXXXXX";
    dir_ = mkdtemp(tmpl);
    base_ = event_base_new();
    event_base_priority_init(base_, 3);
    cfg_ = Load("");
    Reopen();
  }
  void TearDown() override {
    queue_.reset();
    commits_.reset();
    spool_.reset();
    event_base_free(base_);
    std::system(("rm -rf " + dir_).c_str());
  }
  config::Config Load(const std::string& extra) {
    auto c = config::LoadFromString(
        "[server]\nhostname = relay.example\npostmaster = pm@relay.example\n[policy]\nrecipient_domains = example.com\n"
        "[route]\ndefault = smtp\n[smtp]\nhost = smtp.example\n[queue]\nretry_delay = 60\nmax_retry_delay = 600\n"
        "max_age = 1h\n" + extra,
        "test.ini", config::LoadOptions{{}, false, "/"});
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return *c;
  }
  void Reopen() {
    queue_.reset();
    commits_.reset();
    spool_.reset();
    spool_ = std::move(Spool::Open(dir_).value());
    commits_ = std::make_unique<CommitTracker>(base_, spool_.get());
    queue_ = std::make_unique<Queue>(spool_.get(), commits_.get(), cfg_, clock_);
    ASSERT_TRUE(queue_->Load(10).ok());
  }
  void Commit() { commits_->CommitAndWait(); }
  std::string Add(const std::string& sender, std::vector<std::string> rcpts, MessageKind kind = MessageKind::kNormal) {
    Message m;
    m.queue_id = queue_->NewQueueId();
    m.sender = sender;
    m.arrival = clock_.NowSeconds();
    m.kind = kind;
    for (auto& r : rcpts) {
      Recipient rc;
      rc.address = r;
      m.recipients.push_back(rc);
    }
    queue_->PrepareNew(&m);
    std::string body = "Subject: test\r\nFrom: " + sender + "\r\n\r\nbody\r\n";
    m.size = body.size();
    EXPECT_TRUE(spool_->InsertMessage(&m, body).ok());
    Commit();
    std::string id = m.queue_id;
    queue_->Add(std::move(m));
    return id;
  }
  Job TakeOne(config::Backend b = config::Backend::kSmtp) {
    auto jobs = queue_->TakeDue(b, 10);
    EXPECT_EQ(jobs.size(), 1u);
    return jobs.empty() ? Job{} : jobs[0];
  }
  std::vector<Outcome> All(const Job& j, int code, const std::string& enhanced = "", const std::string& text = "") {
    std::vector<Outcome> out;
    for (int idx : j.recipients) out.push_back({idx, code, enhanced, text});
    return out;
  }
  // Messages addressed to `rcpt` (DSNs and notices the queue generated).
  std::vector<const Message*> To(const std::string& rcpt) {
    std::vector<const Message*> out;
    for (const Message* m : queue_->All()) {
      if (!m->recipients.empty() && m->recipients[0].address == rcpt) out.push_back(m);
    }
    return out;
  }

  std::string dir_;
  event_base* base_;
  util::FakeClock clock_;
  config::Config cfg_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<CommitTracker> commits_;
  std::unique_ptr<Queue> queue_;
};

TEST_F(QueueTest, DeliveredMessagesLeaveTheQueueAndTheSendLog) {
  std::string id = Add("s@example.org", {"a@example.com", "b@example.com"});
  Job j = TakeOne();
  EXPECT_EQ(j.recipients.size(), 2u);
  EXPECT_TRUE(queue_->TakeDue(config::Backend::kSmtp, 10).empty());  // in flight
  EXPECT_EQ(queue_->StateOf(*queue_->Find(id)), "delivering");
  queue_->Complete(j.id, All(j, 250, "2.0.0", "ok"), 0, "id=1");
  Commit();
  EXPECT_EQ(queue_->size(), 0u);
  auto log = spool_->ReadSendLog(0, 10);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].status, "sent");
  EXPECT_EQ((*log)[0].subject, "");  // smtpd supplies it; Add() here does not
  Reopen();
  EXPECT_EQ(queue_->size(), 0u);  // durable
}

TEST_F(QueueTest, DeferralBacksOffThenSucceeds) {
  std::string id = Add("s@example.org", {"a@example.com"});
  Job j = TakeOne();
  queue_->Complete(j.id, All(j, 451, "4.3.0", "busy"), 0, "");
  Commit();
  const Message* m = queue_->Find(id);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(queue_->StateOf(*m), "deferred");
  EXPECT_EQ(m->recipients[0].attempts, 1);
  int64_t wait = m->recipients[0].next_attempt - clock_.NowSeconds();
  EXPECT_GE(wait, 54);
  EXPECT_LE(wait, 66);
  EXPECT_TRUE(queue_->TakeDue(config::Backend::kSmtp, 10).empty());
  clock_.Advance(70 * 1000000LL);
  j = TakeOne();
  queue_->Complete(j.id, All(j, 250), 0, "");
  EXPECT_EQ(queue_->size(), 0u);
}

TEST_F(QueueTest, HardFailureBouncesWithADsnToTheSender) {
  std::string id = Add("s@example.org", {"a@example.com", "b@example.com"});
  Job j = TakeOne();
  queue_->Complete(j.id, {{0, 550, "5.1.1", "no such user"}, {1, 250, "2.0.0", "ok"}}, 0, "");
  Commit();
  EXPECT_EQ(queue_->Find(id), nullptr);
  auto dsns = To("s@example.org");
  ASSERT_EQ(dsns.size(), 1u);
  EXPECT_EQ(dsns[0]->sender, "");
  EXPECT_EQ(dsns[0]->kind, MessageKind::kBounce);
  auto body = spool_->LoadBody(dsns[0]->rowid);
  EXPECT_NE(body->find("Final-Recipient: rfc822; a@example.com"), std::string::npos);
  EXPECT_NE(body->find("Status: 5.1.1"), std::string::npos);
  EXPECT_NE(body->find("Diagnostic-Code: smtp; 550 5.1.1 no such user"), std::string::npos);
  EXPECT_EQ(body->find("b@example.com"), std::string::npos);  // delivered one is not reported
  EXPECT_NE(body->find("Subject: test"), std::string::npos);  // original headers included
}

TEST_F(QueueTest, NoBounceToTheNullSenderAndFailedBouncesGoToPostmasterOnce) {
  Add("", {"a@example.com"});  // e.g. a read receipt from a client
  Job j = TakeOne();
  queue_->Complete(j.id, All(j, 550, "5.1.1", "nope"), 0, "");
  Commit();
  EXPECT_EQ(queue_->size(), 0u);  // dropped, nothing generated

  Add("", {"s@example.org"}, MessageKind::kBounce);  // a DSN that cannot be delivered
  j = TakeOne();
  queue_->Complete(j.id, All(j, 550, "5.1.1", "gone"), 0, "");
  Commit();
  auto notices = To("pm@relay.example");
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0]->kind, MessageKind::kPostmasterNotice);
  j = TakeOne();
  queue_->Complete(j.id, All(j, 550, "5.1.1", "postmaster broken too"), 0, "");
  Commit();
  EXPECT_EQ(queue_->size(), 0u);  // dropped with a log line, no loop
}

TEST_F(QueueTest, ExpiryBouncesWhatWaitedTooLong) {
  std::string id = Add("s@example.org", {"a@example.com"});
  Job j = TakeOne();
  queue_->Complete(j.id, All(j, 451, "4.4.1", "no answer"), 0, "");
  clock_.Advance(2 * 3600 * 1000000LL);
  queue_->Sweep();
  Commit();
  EXPECT_EQ(queue_->Find(id), nullptr);
  auto dsns = To("s@example.org");
  ASSERT_EQ(dsns.size(), 1u);
  auto body = spool_->LoadBody(dsns[0]->rowid);
  EXPECT_NE(body->find("delivery time expired; last error: 451 4.4.1 no answer"), std::string::npos);
  EXPECT_NE(body->find("Status: 5.4.1"), std::string::npos);
}

TEST_F(QueueTest, MaxAttemptsBouncesAndFallbackTakesOverFirst) {
  cfg_ = Load("max_attempts = 2\n[route]\nfallback = file\nfallback_after = 2\n[file]\ndir = /tmp\n");
  queue_->Reconfigure(cfg_);
  std::string id = Add("s@example.org", {"a@example.com"});
  for (int i = 0; i < 2; ++i) {
    Job j = TakeOne(config::Backend::kSmtp);
    queue_->Complete(j.id, All(j, 451, "4.3.0", "down"), 0, "");
    clock_.Advance(1000 * 1000000LL);
  }
  EXPECT_TRUE(queue_->Find(id)->recipients[0].on_fallback);
  EXPECT_TRUE(queue_->TakeDue(config::Backend::kSmtp, 10).empty());
  for (int i = 0; i < 2; ++i) {
    Job j = TakeOne(config::Backend::kFile);
    queue_->Complete(j.id, All(j, 451, "4.3.0", "also down"), 0, "");
    clock_.Advance(1000 * 1000000LL);
  }
  Commit();
  EXPECT_EQ(queue_->Find(id), nullptr);
  EXPECT_EQ(To("s@example.org").size(), 1u);
}

TEST_F(QueueTest, RetryAfterDecidesTheNextAttempt) {
  std::string id = Add("s@example.org", {"a@example.com"});
  Job j = TakeOne();
  queue_->Complete(j.id, All(j, 429 - 429 + 451, "4.7.0", "slow down"), 5, "");
  EXPECT_EQ(queue_->Find(id)->recipients[0].next_attempt, clock_.NowSeconds() + 5);
}

TEST_F(QueueTest, HoldReleaseFlushRequeueDelete) {
  std::string a = Add("s@example.org", {"a@example.com"});
  std::string b = Add("s@example.org", {"b@example.com"});
  EXPECT_EQ(queue_->Hold({a}, true), 1);
  EXPECT_EQ(queue_->StateOf(*queue_->Find(a)), "held");
  Job j = TakeOne();  // only b
  EXPECT_EQ(queue_->MessageOf(j)->queue_id, b);
  queue_->Complete(j.id, All(j, 451, "4.3.0", "later"), 0, "");
  EXPECT_TRUE(queue_->TakeDue(config::Backend::kSmtp, 10).empty());
  EXPECT_EQ(queue_->Flush({}), 1);  // b is due again
  j = TakeOne();
  queue_->Complete(j.id, All(j, 451, "4.3.0", "later"), 0, "");
  EXPECT_EQ(queue_->Requeue({b}, false), 1);
  EXPECT_EQ(queue_->Find(b)->recipients[0].attempts, 0);
  EXPECT_EQ(queue_->Hold({a}, false), 1);
  EXPECT_EQ(queue_->TakeDue(config::Backend::kSmtp, 10).size(), 2u);
  EXPECT_EQ(queue_->Delete({a}, false), 1);
  EXPECT_EQ(queue_->Find(a), nullptr);
  Commit();
  Reopen();
  EXPECT_EQ(queue_->Find(a), nullptr);
  EXPECT_NE(queue_->Find(b), nullptr);
  EXPECT_EQ(queue_->UnknownIds({a, b}), std::vector<std::string>{a});
}

TEST_F(QueueTest, AfterARestartInFlightWorkWaitsForLateResultsFirst) {
  std::string id = Add("s@example.org", {"a@example.com"});
  Job j = TakeOne();
  Commit();  // dispatched_at is durable
  Reopen();  // qmgr restarted; the agent still has the job
  EXPECT_TRUE(queue_->TakeDue(config::Backend::kSmtp, 10).empty()) << "must not dispatch twice at once";
  queue_->CompleteOrphan(id, config::Backend::kSmtp, {{0, 250, "2.0.0", "done while you were away"}}, 0, "");
  Commit();
  EXPECT_EQ(queue_->size(), 0u);
  (void)j;
}

TEST_F(QueueTest, AMessageOnBoardForTwoAgentCrashesIsHeld) {
  std::string id = Add("s@example.org", {"a@example.com"});
  Job j = TakeOne();
  int64_t rowid = j.rowid;
  queue_->Fail(j.id, "4.3.0", "agent died");
  queue_->RecordAgentCrash(rowid);
  EXPECT_FALSE(queue_->Find(id)->held);
  queue_->Flush({});
  j = TakeOne();
  queue_->Fail(j.id, "4.3.0", "agent died");
  queue_->RecordAgentCrash(rowid);
  EXPECT_TRUE(queue_->Find(id)->held);
  EXPECT_EQ(queue_->Find(id)->recipients[0].attempts, 2);
}

TEST_F(QueueTest, HoldReasonAndCrashCountSurviveARestart) {
  std::string id = Add("s@example.org", {"a@example.com"});
  for (int i = 0; i < 2; ++i) {
    queue_->Flush({});
    Job j = TakeOne();
    queue_->Fail(j.id, "4.3.0", "agent died");
    queue_->RecordAgentCrash(j.rowid);
  }
  Commit();
  Reopen();
  const Message* m = queue_->Find(id);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->held);
  EXPECT_EQ(m->agent_crashes, 2);
  EXPECT_EQ(m->hold_reason, "the delivery agent crashed twice while delivering this message");
  EXPECT_EQ(queue_->Hold({id}, false), 1);
  Commit();
  Reopen();
  EXPECT_FALSE(queue_->Find(id)->held);
  EXPECT_EQ(queue_->Find(id)->agent_crashes, 0);
}

TEST_F(QueueTest, DelayWarningGoesOutOnceAndOnlyToPeople) {
  cfg_ = Load("delay_warning = 30m\n");
  queue_->Reconfigure(cfg_);
  std::string id = Add("s@example.org", {"a@example.com"});
  Add("", {"b@example.com"});  // null sender: never warned
  for (const Job& j : queue_->TakeDue(config::Backend::kSmtp, 10)) {
    queue_->Complete(j.id, All(j, 451, "4.4.1", "connection timed out"), 0, "");
  }
  clock_.Advance(31 * 60 * 1000000LL);
  queue_->Sweep();
  Commit();
  auto warnings = To("s@example.org");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0]->subject, "Delayed Mail (still being retried)");
  auto body = spool_->LoadBody(warnings[0]->rowid);
  EXPECT_NE(body->find("Action: delayed\r\nStatus: 4.4.1"), std::string::npos);
  EXPECT_NE(body->find("you do not need to send it again"), std::string::npos);
  EXPECT_TRUE(queue_->Find(id)->recipients[0].delay_warned);
  queue_->Sweep();
  Commit();
  EXPECT_EQ(To("s@example.org").size(), 1u);  // once
  EXPECT_NE(queue_->Find(id), nullptr);        // and the message keeps trying
}

TEST_F(QueueTest, ResultsForUnknownRecipientsAreIgnored) {
  std::string id = Add("s@example.org", {"a@example.com"});
  Job j = TakeOne();
  queue_->Complete(j.id, {{7, 250, "2.0.0", "not in the job"}}, 0, "");
  // The real recipient got no answer: deferred, not delivered.
  EXPECT_EQ(queue_->Find(id)->recipients[0].state, RcptState::kPending);
  EXPECT_EQ(queue_->Find(id)->recipients[0].attempts, 1);
}

TEST_F(QueueTest, QueueFullStopsAccepting) {
  cfg_ = Load("max_messages = 2\n");
  queue_->Reconfigure(cfg_);
  Add("s@example.org", {"a@example.com"});
  EXPECT_TRUE(queue_->accepting());
  Add("s@example.org", {"a@example.com"});
  EXPECT_FALSE(queue_->accepting());
}

}  // namespace
}  // namespace mailrelay::qmgr
