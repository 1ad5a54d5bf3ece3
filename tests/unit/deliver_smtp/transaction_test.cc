#include "deliver-smtp/transaction.h"

#include <gtest/gtest.h>

namespace mailrelay::deliver_smtp {
namespace {

smtp::Reply R(int code, std::string enhanced = "", std::string text = "ok") {
  smtp::Reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines = {std::move(text)};
  return r;
}

std::shared_ptr<agent::DeliveryJob> Job(std::vector<std::string> rcpts,
                                        std::string sender = "s@example.org",
                                        std::string body = "Subject: x\r\n\r\nhello\r\n") {
  auto j = std::make_shared<agent::DeliveryJob>();
  j->id = 7;
  j->queue_id = "QID";
  j->sender = std::move(sender);
  for (size_t i = 0; i < rcpts.size(); ++i)
    j->recipients.push_back({static_cast<int>(10 + i), rcpts[i]});
  j->body = std::move(body);
  j->body_type = "7BIT";
  return j;
}

smtp::EhloExtensions Ext(bool pipelining = true) {
  smtp::EhloExtensions e;
  e.pipelining = pipelining;
  e.size = true;
  e.eightbitmime = true;
  return e;
}

Transaction Make(std::shared_ptr<agent::DeliveryJob> job, smtp::EhloExtensions ext = Ext(),
                 bool reused = false) {
  return Transaction(std::move(job), ext, "mx[192.0.2.1]", "mx[192.0.2.1]:25", reused);
}

// Feeds replies to the envelope commands in order.
void Envelope(Transaction& t, std::vector<smtp::Reply> replies) {
  for (size_t i = 0; i < replies.size(); ++i) t.OnEnvelopeReply(i, replies[i]);
}

TEST(Transaction, EnvelopeCommandsWithParameters) {
  auto job = Job({"a@example.com", "b@example.com"});
  Transaction t = Make(job);
  ASSERT_FALSE(t.refused());
  ASSERT_EQ(t.envelope().size(), 3u);
  EXPECT_EQ(t.envelope()[0].line,
            "MAIL FROM:<s@example.org> SIZE=" + std::to_string(job->body.size()));
  EXPECT_EQ(t.envelope()[1].line, "RCPT TO:<a@example.com>");
  EXPECT_EQ(t.envelope()[2].line, "RCPT TO:<b@example.com>");
  EXPECT_EQ(t.envelope()[2].recipient, 1u);
}

TEST(Transaction, ReusedSessionStartsWithRsetAndNullSenderIsEmptyPath) {
  Transaction t = Make(Job({"a@example.com"}, ""), Ext(), true);
  ASSERT_EQ(t.envelope().size(), 3u);
  EXPECT_EQ(t.envelope()[0].line, "RSET");
  EXPECT_EQ(t.envelope()[1].line.rfind("MAIL FROM:<> SIZE=", 0), 0u);
}

TEST(Transaction, EightBitAndSmtpUtf8Parameters) {
  auto job = Job({"a@example.com"}, "s@example.org", "Subject: x\r\n\r\ncaf\xc3\xa9\r\n");
  smtp::EhloExtensions ext = Ext();
  ext.size = false;
  ext.smtputf8 = true;
  job->smtputf8 = true;
  Transaction t = Make(job, ext);
  EXPECT_EQ(t.envelope()[0].line, "MAIL FROM:<s@example.org> BODY=8BITMIME SMTPUTF8");
  EXPECT_FALSE(t.unannounced_eight_bit());
  ext.eightbitmime = false;
  Transaction without = Make(job, ext);
  EXPECT_EQ(without.envelope()[0].line, "MAIL FROM:<s@example.org> SMTPUTF8");
  EXPECT_TRUE(without.unannounced_eight_bit());
}

TEST(Transaction, OverTheServersSizeIsBouncedWithoutSending) {
  smtp::EhloExtensions ext = Ext();
  ext.size_limit = 10;
  auto job = Job({"a@example.com", "b@example.com"});
  Transaction t = Make(job, ext);
  ASSERT_TRUE(t.refused());
  EXPECT_TRUE(t.envelope().empty());
  EXPECT_TRUE(t.finished());
  agent::JobResult r = t.Result();
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[0].code, 552);
  EXPECT_EQ(r.results[0].enhanced, "5.3.4");
  EXPECT_EQ(r.results[0].text, "message size " + std::to_string(job->body.size()) +
                                   " exceeds size limit 10 of server mx[192.0.2.1]");
  EXPECT_EQ(r.results[1].index, 11);
}

TEST(Transaction, Utf8EnvelopeWithoutSmtpUtf8IsBounced) {
  Transaction t = Make(Job({"jos\xc3\xa9@example.com"}));
  ASSERT_TRUE(t.refused());
  agent::JobResult r = t.Result();
  EXPECT_EQ(r.results[0].code, 553);
  EXPECT_EQ(r.results[0].enhanced, "5.6.7");
  EXPECT_EQ(r.results[0].text, "SMTPUTF8 is required, but was not offered by host mx[192.0.2.1]");
}

TEST(Transaction, PerRecipientResultsAndTheFinalReply) {
  Transaction t = Make(Job({"ok@example.com", "gone@example.com", "busy@example.com"}));
  Envelope(t, {R(250), R(250), R(550, "5.1.1", "<gone@example.com>: User unknown"),
               R(450, "4.2.1", "busy")});
  EXPECT_EQ(t.accepted(), 1);
  ASSERT_TRUE(t.WantsData());
  EXPECT_TRUE(t.OnDataReply(R(354, "", "go ahead")));
  EXPECT_FALSE(t.finished());
  t.OnFinalReply(R(250, "2.0.0", "Ok: queued as 4ABC"));
  ASSERT_TRUE(t.finished());
  agent::JobResult r = t.Result();
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[0].code, 250);
  EXPECT_EQ(r.results[0].enhanced, "2.0.0");
  EXPECT_EQ(r.results[0].text, "Ok: queued as 4ABC");
  EXPECT_EQ(r.results[1].code, 550);
  EXPECT_EQ(r.results[1].enhanced, "5.1.1");
  EXPECT_EQ(r.results[1].text,
            "host mx[192.0.2.1] said: 550 5.1.1 <gone@example.com>: User unknown (in reply to RCPT "
            "TO command)");
  EXPECT_EQ(r.results[2].code, 450);
  EXPECT_EQ(r.info, "relay=mx[192.0.2.1]:25 queued_as=4ABC");
  EXPECT_FALSE(r.throttled);
}

TEST(Transaction, RefusedMailAppliesToEveryRecipientAndPipelinedRcptRepliesAreIgnored) {
  Transaction t = Make(Job({"a@example.com", "b@example.com"}));
  Envelope(t, {R(553, "5.7.1", "sender rejected"), R(503, "5.5.1", "need MAIL"),
               R(503, "5.5.1", "need MAIL")});
  EXPECT_FALSE(t.WantsData());
  ASSERT_TRUE(t.finished());
  for (const auto& res : t.Result().results) {
    EXPECT_EQ(res.code, 553);
    EXPECT_NE(res.text.find("sender rejected (in reply to MAIL FROM command)"), std::string::npos);
  }
}

TEST(Transaction, EveryRecipientRefusedMeansNoData) {
  Transaction t = Make(Job({"a@example.com"}));
  Envelope(t, {R(250), R(550, "5.1.1", "no")});
  EXPECT_FALSE(t.WantsData());
  EXPECT_TRUE(t.finished());
}

TEST(Transaction, NoDataBeforeEveryEnvelopeReplyIsIn) {
  Transaction t = Make(Job({"a@example.com", "b@example.com"}));
  t.OnEnvelopeReply(0, R(250));
  t.OnEnvelopeReply(1, R(250));
  EXPECT_FALSE(t.WantsData());
  t.OnEnvelopeReply(2, R(250));
  EXPECT_TRUE(t.WantsData());
}

TEST(Transaction, FinalFailureAppliesOnlyToRecipientsAcceptedAtRcpt) {
  Transaction t = Make(Job({"a@example.com", "gone@example.com", "b@example.com"}));
  Envelope(t, {R(250), R(250), R(550, "5.1.1", "no such user"), R(250)});
  ASSERT_TRUE(t.OnDataReply(R(354)));
  t.OnFinalReply(R(554, "5.7.1", "spam"));
  agent::JobResult r = t.Result();
  EXPECT_EQ(r.results[0].code, 554);
  EXPECT_NE(r.results[0].text.find("(in reply to end of DATA command)"), std::string::npos);
  EXPECT_EQ(r.results[1].code, 550);
  EXPECT_EQ(r.results[2].code, 554);
  EXPECT_TRUE(r.info.empty());
}

TEST(Transaction, RefusedDataAppliesToAcceptedRecipients) {
  Transaction t = Make(Job({"a@example.com"}));
  Envelope(t, {R(250), R(250)});
  EXPECT_FALSE(t.OnDataReply(R(451, "4.3.0", "not now")));
  ASSERT_TRUE(t.finished());
  EXPECT_EQ(t.Result().results[0].code, 451);
  EXPECT_NE(t.Result().results[0].text.find("(in reply to DATA command)"), std::string::npos);
}

TEST(Transaction, BrokenConnectionDefersWhatIsOpenAndKeepsRefusals) {
  Transaction t = Make(Job({"a@example.com", "gone@example.com", "b@example.com"}));
  t.OnEnvelopeReply(0, R(250));
  t.OnEnvelopeReply(1, R(250));
  t.OnEnvelopeReply(2, R(550, "5.1.1", "no"));
  t.Fail(451, "4.4.2", "lost connection with mx[192.0.2.1] while sending RCPT TO");
  ASSERT_TRUE(t.finished());
  agent::JobResult r = t.Result();
  EXPECT_EQ(r.results[0].code, 451);  // accepted at RCPT but never got its final reply
  EXPECT_EQ(r.results[0].enhanced, "4.4.2");
  EXPECT_EQ(r.results[1].code, 550);
  EXPECT_EQ(r.results[2].code, 451);
  EXPECT_TRUE(r.info.empty());
}

TEST(Transaction, LostAfterTheDotIsNeverDelivered) {
  Transaction t = Make(Job({"a@example.com"}));
  Envelope(t, {R(250), R(250)});
  ASSERT_TRUE(t.OnDataReply(R(354)));
  t.Fail(451, "4.4.2",
         "lost connection while sending end of data -- message may be sent more than once");
  EXPECT_EQ(t.Result().results[0].code, 451);
}

TEST(Transaction, ThrottlingRepliesAskForAPause) {
  Transaction t = Make(Job({"a@example.com", "b@example.com"}));
  Envelope(t, {R(250), R(250), R(250)});
  ASSERT_TRUE(t.OnDataReply(R(354)));
  t.OnFinalReply(R(451, "4.7.500", "Server busy. Please try again later"));
  agent::JobResult r = t.Result();
  EXPECT_TRUE(r.throttled);
  EXPECT_GT(r.retry_after, 0);

  Transaction m = Make(Job({"a@example.com"}));
  Envelope(m, {R(421, "4.7.0", "too many connections")});
  EXPECT_TRUE(m.finished());
  EXPECT_TRUE(m.Result().throttled);
  EXPECT_EQ(m.Result().results[0].code, 421);
}

TEST(Transaction, BouncesAloneAreNotThrottled) {
  Transaction t = Make(Job({"a@example.com"}));
  Envelope(t, {R(421, "4.7.0", "bye")});
  EXPECT_TRUE(t.Result().throttled);
  Transaction b = Make(Job({"a@example.com"}));
  Envelope(b, {R(250), R(550, "5.1.1", "no")});
  EXPECT_FALSE(b.Result().throttled);
}

TEST(Transaction, RefusedRsetMeansTheSessionIsUntrusted) {
  Transaction t = Make(Job({"a@example.com"}), Ext(), true);
  t.OnEnvelopeReply(0, R(421, "4.4.2", "idle timeout"));
  EXPECT_TRUE(t.rset_failed());
  t.OnEnvelopeReply(1, R(250));
  t.OnEnvelopeReply(2, R(250));
  EXPECT_FALSE(t.WantsData());
}

}  // namespace
}  // namespace mailrelay::deliver_smtp
