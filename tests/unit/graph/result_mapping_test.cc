// Graph's answers to sendMail -> SMTP results (deliver-graph/result_mapping.h).
#include "deliver-graph/result_mapping.h"

#include <gtest/gtest.h>

#include <string>

namespace mailrelay::graph {
namespace {

http::Response Answer(int status, std::string body = "",
                      std::optional<int64_t> retry_after = std::nullopt) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.retry_after_seconds = retry_after;
  return r;
}

std::string GraphError(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message +
         R"(","innerError":{"date":"2026-01-01T00:00:00","request-id":"r1","client-request-id":"c1"}}})";
}

TEST(ResultMapping, AcceptedIsDelivered) {
  http::Response r = Answer(202);
  r.headers.emplace("request-id", "0a1b2c");
  SendOutcome o = MapSendResponse(r, "alice@example.org");
  EXPECT_EQ(o.disposition, Disposition::kDelivered);
  EXPECT_EQ(o.code, 250);
  EXPECT_EQ(o.enhanced, "2.0.0");
  EXPECT_EQ(o.text, "202 Accepted");
  EXPECT_EQ(o.request_id, "0a1b2c");
}

TEST(ResultMapping, InvalidRecipientsBounceWithGraphsWords) {
  SendOutcome o = MapSendResponse(
      Answer(400, GraphError("ErrorInvalidRecipients", "At least one recipient isn't valid.")),
      "a@example.org");
  EXPECT_EQ(o.disposition, Disposition::kBounced);
  EXPECT_EQ(o.code, 550);
  EXPECT_EQ(o.enhanced, "5.1.3");
  EXPECT_EQ(o.text,
            "Graph answered 400 ErrorInvalidRecipients: At least one recipient isn't valid.");
  SendOutcome other = MapSendResponse(
      Answer(400, GraphError("ErrorMimeContentInvalidBase64String", "Invalid base64.")), "a@x");
  EXPECT_EQ(other.code, 554);
  EXPECT_EQ(other.enhanced, "5.6.0");
}

TEST(ResultMapping, AccessDeniedAndMissingMailboxBounceWithAClearText) {
  SendOutcome denied = MapSendResponse(
      Answer(403, GraphError("ErrorAccessDenied", "Access is denied.")), "printer@example.org");
  EXPECT_EQ(denied.disposition, Disposition::kBounced);
  EXPECT_EQ(denied.code, 550);
  EXPECT_EQ(denied.enhanced, "5.7.1");
  EXPECT_NE(denied.text.find("ErrorAccessDenied: Access is denied."), std::string::npos);
  EXPECT_NE(denied.text.find("not allowed to send as printer@example.org"), std::string::npos);
  SendOutcome missing = MapSendResponse(
      Answer(404, GraphError("MailboxNotEnabledForRESTAPI", "The mailbox is either inactive.")),
      "x@example.org");
  EXPECT_EQ(missing.disposition, Disposition::kBounced);
  EXPECT_EQ(missing.enhanced, "5.1.8");
  EXPECT_NE(missing.text.find("no mailbox x@example.org"), std::string::npos);
}

TEST(ResultMapping, ForbiddenOrNotFoundFromSomethingElseIsAConfigurationDeferral) {
  for (int status : {403, 404}) {
    SendOutcome o = MapSendResponse(Answer(status, "<html>proxy says no</html>"), "a@example.org");
    EXPECT_EQ(o.disposition, Disposition::kDeferred) << status;
    EXPECT_TRUE(o.config_error);
    EXPECT_EQ(o.enhanced, "4.3.5");
  }
  SendOutcome url = MapSendResponse(
      Answer(400, GraphError("BadRequest", "Resource not found for the segment 'v1.0'.")), "a@x");
  EXPECT_EQ(url.disposition, Disposition::kDeferred);
  EXPECT_TRUE(url.config_error);
}

TEST(ResultMapping, UnauthorizedIsDeferredAndAsksForARefresh) {
  SendOutcome o =
      MapSendResponse(Answer(401, GraphError("InvalidAuthenticationToken", "expired")), "a@x");
  EXPECT_EQ(o.disposition, Disposition::kDeferred);
  EXPECT_TRUE(o.unauthorized);
  EXPECT_TRUE(o.config_error);
  EXPECT_EQ(o.enhanced, "4.7.0");
}

TEST(ResultMapping, ThrottlingAndOutagesAreDeferredWithRetryAfter) {
  SendOutcome t =
      MapSendResponse(Answer(429, GraphError("ApplicationThrottled", "slow down"), 7), "a@x");
  EXPECT_EQ(t.disposition, Disposition::kDeferred);
  EXPECT_TRUE(t.throttled);
  EXPECT_EQ(t.retry_after, 7);
  EXPECT_EQ(t.enhanced, "4.4.5");
  EXPECT_EQ(MapSendResponse(Answer(429), "a@x").retry_after, 60);
  SendOutcome u = MapSendResponse(Answer(503, "", 12), "a@x");
  EXPECT_FALSE(u.throttled);
  EXPECT_EQ(u.retry_after, 12);
  EXPECT_EQ(u.enhanced, "4.3.2");
  EXPECT_EQ(MapSendResponse(Answer(504), "a@x").enhanced, "4.4.2");
  EXPECT_EQ(MapSendResponse(Answer(500, "garbage \x01\x02 not json"), "a@x").disposition,
            Disposition::kDeferred);
  EXPECT_EQ(MapSendResponse(Answer(409), "a@x").disposition, Disposition::kDeferred);
}

TEST(ResultMapping, TooLargeBounces) {
  SendOutcome o = MapSendResponse(Answer(413, GraphError("RequestBodyTooLarge",
                                                         "The maximum request length "
                                                         "supported is 4MB.")),
                                  "a@x");
  EXPECT_EQ(o.disposition, Disposition::kBounced);
  EXPECT_EQ(o.code, 552);
  EXPECT_EQ(o.enhanced, "5.3.4");
}

TEST(ResultMapping, TransportFailures) {
  http::Response r;
  r.error = http::TransportError::kTimeout;
  r.error_message = "POST https://graph/v1.0/users/x/sendMail: timed out";
  EXPECT_EQ(MapSendResponse(r, "a@x").enhanced, "4.4.2");
  r.error = http::TransportError::kConnectionRefused;
  EXPECT_EQ(MapSendResponse(r, "a@x").enhanced, "4.4.1");
  r.error = http::TransportError::kTlsVerify;
  EXPECT_TRUE(MapSendResponse(r, "a@x").config_error);
  r.error = http::TransportError::kTooLarge;
  EXPECT_EQ(MapSendResponse(r, "a@x").disposition, Disposition::kDeferred);
}

TEST(ResultMapping, ServiceErrorIsOneBoundedLine) {
  std::string huge(100000, 'x');
  std::string text = ServiceError(Answer(500, "line one\r\nline two " + huge));
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_LE(text.size(), 510u);
  EXPECT_EQ(ServiceError(
                Answer(400, R"({"error":{"code":"A","message":"m","innerError":{"code":"B"}}})")),
            "A/B: m");
  EXPECT_FALSE(IsGraphError(Answer(404, "{}")));
  EXPECT_TRUE(IsGraphError(Answer(404, GraphError("ErrorInvalidUser", "no"))));
}

}  // namespace
}  // namespace mailrelay::graph
