// deliver-azure's ACS answers -> per-recipient results, the credential file forms and the
// repeatable-request ids.

#include "deliver-azure/result_mapping.h"

#include <gtest/gtest.h>

#include "common/util/file.h"
#include "deliver-azure/azure_backend.h"
#include "deliver-azure/credentials.h"

namespace mailrelay::azure {
namespace {

http::Response Answer(int status, std::string body = "", std::optional<int64_t> retry_after = std::nullopt) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.retry_after_seconds = retry_after;
  return r;
}

http::Response Failed(http::TransportError e) {
  http::Response r;
  r.error = e;
  r.error_message = "POST https://127.0.0.1:1/emails:send: what happened";
  return r;
}

TEST(ResultMapping, AcceptedIsDeliveredWithTheOperationId) {
  SendOutcome o = MapSendResponse(Answer(202, R"({"id":"op-1","status":"Running"})"), "sent-id");
  EXPECT_EQ(o.disposition, Disposition::kDelivered);
  EXPECT_EQ(o.code, 250);
  EXPECT_EQ(o.enhanced, "2.0.0");
  EXPECT_EQ(o.text, "202 Accepted");
  EXPECT_EQ(o.operation_id, "op-1");
  // Without an id in the body: the Operation-Id we sent.
  EXPECT_EQ(MapSendResponse(Answer(202, ""), "sent-id").operation_id, "sent-id");
}

TEST(ResultMapping, BadRequestBouncesWithTheServiceWords) {
  SendOutcome o = MapSendResponse(
      Answer(400, R"({"error":{"code":"InvalidAttachment","message":"Attachment type .exe is not allowed."}})"), "x");
  EXPECT_EQ(o.disposition, Disposition::kBounced);
  EXPECT_EQ(o.code, 554);
  EXPECT_EQ(o.enhanced, "5.6.0");
  EXPECT_EQ(o.text, "ACS answered 400 InvalidAttachment: Attachment type .exe is not allowed.");
  o = MapSendResponse(Answer(400, R"({"error":{"code":"InvalidRequest","message":"Invalid email address 'x' in recipients.to[0]"}})"), "x");
  EXPECT_EQ(o.code, 550);
  EXPECT_EQ(o.enhanced, "5.1.3");
  // A multi-line, hostile message stays one printable line.
  o = MapSendResponse(Answer(400, "{\"error\":{\"code\":\"X\",\"message\":\"a\\r\\nb\\u0007\"}}"), "x");
  EXPECT_EQ(o.text, "ACS answered 400 X: a b?");
  // Not JSON: an excerpt of the body.
  o = MapSendResponse(Answer(400, "plain words"), "x");
  EXPECT_EQ(o.text, "ACS answered 400 plain words");
  EXPECT_EQ(MapSendResponse(Answer(413), "x").enhanced, "5.3.4");
  EXPECT_EQ(MapSendResponse(Answer(413), "x").code, 552);
}

TEST(ResultMapping, ThrottlingDefersAndPausesTheBackend) {
  SendOutcome o = MapSendResponse(Answer(429, "", 7), "x");
  EXPECT_EQ(o.disposition, Disposition::kDeferred);
  EXPECT_EQ(o.code, 451);
  EXPECT_TRUE(o.throttled);
  EXPECT_EQ(o.retry_after, 7);
  EXPECT_EQ(MapSendResponse(Answer(429), "x").retry_after, 60);
  o = MapSendResponse(Answer(503, "", 30), "x");
  EXPECT_TRUE(o.throttled);
  EXPECT_EQ(o.enhanced, "4.3.2");
  o = MapSendResponse(Answer(500), "x");
  EXPECT_EQ(o.disposition, Disposition::kDeferred);
  EXPECT_FALSE(o.throttled);
  EXPECT_EQ(o.text, "ACS answered 500 Internal Server Error");
}

TEST(ResultMapping, AuthFailuresAreDeferredConfigurationErrors) {
  for (int s : {401, 403}) {
    SendOutcome o = MapSendResponse(Answer(s, R"({"error":{"code":"Denied","message":"Denied by the resource provider."}})"), "x");
    EXPECT_EQ(o.disposition, Disposition::kDeferred) << s;
    EXPECT_EQ(o.code, 451);
    EXPECT_TRUE(o.config_error);
    EXPECT_EQ(o.unauthorized, s == 401);
  }
  SendOutcome o = MapSendResponse(Answer(404), "x");
  EXPECT_EQ(o.disposition, Disposition::kDeferred);
  EXPECT_TRUE(o.config_error);
}

TEST(ResultMapping, RepeatabilityAnswers) {
  SendOutcome o = MapSendResponse(Answer(409, R"({"error":{"code":"Conflict","message":"still running"}})", 1), "x");
  EXPECT_EQ(o.disposition, Disposition::kDeferred);
  EXPECT_TRUE(o.in_progress);
  EXPECT_EQ(o.retry_after, 1);
  o = MapSendResponse(Answer(412, R"({"error":{"code":"PreconditionFailed","message":"not within window"}})"), "x");
  EXPECT_EQ(o.disposition, Disposition::kDeferred);
  EXPECT_TRUE(o.window_passed);
}

TEST(ResultMapping, TransportFailuresAreDeferred) {
  using E = http::TransportError;
  for (E e : {E::kResolve, E::kConnectionRefused, E::kConnectFailed, E::kConnectTimeout, E::kTimeout,
              E::kConnectionLost, E::kProtocol, E::kTls, E::kTlsVerify, E::kTooLarge, E::kOther, E::kInvalidRequest}) {
    SendOutcome o = MapSendResponse(Failed(e), "x");
    EXPECT_EQ(o.disposition, Disposition::kDeferred) << http::TransportErrorName(e);
    EXPECT_EQ(o.code, 451);
    EXPECT_EQ(o.enhanced[0], '4');
  }
  EXPECT_EQ(MapSendResponse(Failed(E::kTimeout), "x").enhanced, "4.4.2");
  EXPECT_EQ(MapSendResponse(Failed(E::kConnectionRefused), "x").enhanced, "4.4.1");
  EXPECT_TRUE(MapSendResponse(Failed(E::kTlsVerify), "x").config_error);
}

TEST(ResultMapping, OperationStatus) {
  auto st = ParseOperationStatus(R"({"id":"op","status":"Failed","error":{"code":"EmailDropped","message":"Email was dropped."}})");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->terminal());
  SendOutcome accepted = MapSendResponse(Answer(202, R"({"id":"op"})"), "op");
  SendOutcome o = MapOperationStatus(*st, accepted);
  EXPECT_EQ(o.disposition, Disposition::kBounced);
  EXPECT_EQ(o.code, 550);
  EXPECT_EQ(o.text, "ACS operation op Failed: EmailDropped: Email was dropped.");
  st = ParseOperationStatus(R"({"id":"op","status":"Succeeded"})");
  ASSERT_TRUE(st.ok());
  o = MapOperationStatus(*st, accepted);
  EXPECT_EQ(o.disposition, Disposition::kDelivered);
  EXPECT_EQ(o.text, "202 Accepted, Succeeded");
  st = ParseOperationStatus(R"({"id":"op","status":"Running"})");
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->terminal());
  EXPECT_FALSE(ParseOperationStatus("not json").ok());
  EXPECT_FALSE(ParseOperationStatus(R"({"id":"op"})").ok());
}

TEST(Credentials, BareKeyAndConnectionString) {
  auto k = ParseAccessKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\n");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==");
  EXPECT_EQ(k->endpoint, "");
  k = ParseAccessKey("endpoint=https://contoso.communication.azure.com/;accesskey=cHc=");
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->key, "cHc=");
  EXPECT_EQ(k->endpoint, "https://contoso.communication.azure.com");
  EXPECT_FALSE(ParseAccessKey("").ok());
  EXPECT_FALSE(ParseAccessKey("not base64 !").ok());
  EXPECT_FALSE(ParseAccessKey("endpoint=https://x.example;accesskey=").ok());
  // The secret is never quoted in an error.
  auto bad = ParseAccessKey("endpoint=https://x.example;accesskey=s3cr3t!!");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("s3cr3t"), std::string::npos);
}

TEST(RequestIdsTest, StableForTheSameRequestDifferentOtherwise) {
  RequestIds a = MakeRequestIds("key-1", "a@x.com", "{}");
  RequestIds b = MakeRequestIds("key-1", "a@x.com", "{}");
  EXPECT_EQ(a.repeatability_id, b.repeatability_id);
  EXPECT_EQ(a.operation_id, b.operation_id);
  EXPECT_NE(a.repeatability_id, a.operation_id);
  EXPECT_EQ(a.repeatability_id.size(), 36u);
  EXPECT_NE(MakeRequestIds("key-2", "a@x.com", "{}").repeatability_id, a.repeatability_id);
  EXPECT_NE(MakeRequestIds("key-1", "b@x.com", "{}").repeatability_id, a.repeatability_id);
  EXPECT_NE(MakeRequestIds("key-1", "a@x.com", "{ }").repeatability_id, a.repeatability_id);
}

TEST(RequestIdsTest, FirstSentIsTheFirstAttemptInsideTheWindow) {
  EXPECT_EQ(FirstSentFor(1000, 1000), 1000);
  EXPECT_EQ(FirstSentFor(1000, 1000 + kRepeatabilityWindowSeconds), 1000);
  EXPECT_EQ(FirstSentFor(1000, 1001 + kRepeatabilityWindowSeconds), 1001 + kRepeatabilityWindowSeconds);
  EXPECT_EQ(FirstSentFor(0, 5000), 5000);  // unknown: now
}

}  // namespace
}  // namespace mailrelay::azure
