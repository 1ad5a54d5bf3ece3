// How SES v2 answers become per-recipient outcomes (result_mapping.h's table).
#include <string>

#include <gtest/gtest.h>

#include "deliver-ses/result_mapping.h"

namespace mailrelay::ses {
namespace {

http::Response Answer(int status, const std::string& type, const std::string& body,
                      const std::string& request_id = "req-1") {
  http::Response r;
  r.status = status;
  if (!type.empty()) r.headers.emplace("x-amzn-errortype", type);
  if (!request_id.empty()) r.headers.emplace("x-amzn-requestid", request_id);
  r.body = body;
  return r;
}

TEST(ResultMapping, Accepted) {
  SesOutcome o = MapSendEmailResponse(Answer(200, "", R"({"MessageId":"0100018c-abc-000000"})"));
  EXPECT_EQ(o.code, 250);
  EXPECT_EQ(o.enhanced, "2.0.0");
  EXPECT_EQ(o.message_id, "0100018c-abc-000000");
  EXPECT_EQ(o.text, "accepted by SES");
  EXPECT_FALSE(o.throttled);
  EXPECT_FALSE(o.alert);
}

TEST(ResultMapping, SuccessWithoutMessageIdIsKept) {
  SesOutcome o = MapSendEmailResponse(Answer(200, "", "<html>proxy</html>"));
  EXPECT_EQ(o.code, 451);
  EXPECT_TRUE(o.alert);
  EXPECT_TRUE(o.message_id.empty());
}

TEST(ResultMapping, ErrorCodeAsBotocoreReadsIt) {
  EXPECT_EQ(
      SesErrorCode(Answer(
          400, "MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/", "{}")),
      "MessageRejected");
  EXPECT_EQ(SesErrorCode(Answer(
                400, "", R"({"__type":"com.amazonaws.sesv2#BadRequestException","message":"x"})")),
            "BadRequestException");
  EXPECT_EQ(SesErrorCode(Answer(400, "", R"({"code":"Throttling"})")), "Throttling");
  EXPECT_EQ(SesErrorCode(Answer(400, "", "not json")), "");
}

struct Case {
  int status;
  std::string type;
  std::string message;
  int code;
  std::string enhanced;
  bool throttled;
  bool alert;
  bool credentials;
};

TEST(ResultMapping, TheTable) {
  const Case cases[] = {
      {429, "TooManyRequestsException", "Maximum sending rate exceeded.", 451, "4.4.5", true, false,
       false},
      {400, "Throttling", "Maximum sending rate exceeded.", 451, "4.4.5", true, false, false},
      {400, "Throttling", "Daily message quota exceeded.", 451, "4.4.5", true, true, false},
      {400, "LimitExceededException", "limit", 451, "4.4.5", true, true, false},
      {400, "MessageRejected",
       "Email address is not verified. The following identities failed the check in region "
       "US-EAST-1: a@example.com",
       550, "5.7.1", false, false, false},
      {400, "MessageRejected", "Illegal header 'Foo'.", 554, "5.6.0", false, false, false},
      {400, "MailFromDomainNotVerifiedException", "MAIL FROM domain not verified", 550, "5.7.1",
       false, false, false},
      {400, "BadRequestException", "Invalid parameters", 554, "5.5.4", false, false, false},
      {400, "SendingPausedException", "Sending is paused for this account.", 451, "4.3.2", false,
       true, false},
      {400, "AccountSuspendedException", "suspended", 451, "4.3.2", false, true, false},
      {404, "NotFoundException", "Configuration set <x> does not exist.", 451, "4.3.5", false, true,
       false},
      {403, "SignatureDoesNotMatch", "The request signature we calculated does not match", 451,
       "4.7.0", false, true, true},
      {403, "UnrecognizedClientException", "The security token included in the request is invalid.",
       451, "4.7.0", false, true, true},
      {403, "ExpiredTokenException", "The security token included in the request is expired", 451,
       "4.7.0", false, true, true},
      {403, "InvalidSignatureException", "Signature expired", 451, "4.7.0", false, true, true},
      {403, "AccessDeniedException", "not authorized to perform ses:SendEmail", 451, "4.7.0", false,
       true, false},
      {500, "InternalFailure", "", 451, "4.3.0", false, false, false},
      {503, "ServiceUnavailable", "", 451, "4.3.0", false, false, false},
      {413, "", "", 552, "5.3.4", false, false, false},
      {418, "SomethingNew", "?", 451, "4.3.0", false, true, false},
      // A refusal code on anything but a 4xx is no refusal: defer, never bounce.
      {503, "MessageRejected", "Email address is not verified.", 451, "4.3.0", false, false, false},
      {500, "BadRequestException", "Invalid parameters", 451, "4.3.0", false, false, false},
      {302, "MailFromDomainNotVerifiedException", "moved", 451, "4.3.0", false, true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type + " " + c.message);
    SesOutcome o = MapSendEmailResponse(
        Answer(c.status, c.type, c.message.empty() ? "" : R"({"message":")" + c.message + "\"}"));
    EXPECT_EQ(o.code, c.code);
    EXPECT_EQ(o.enhanced, c.enhanced);
    EXPECT_EQ(o.throttled, c.throttled);
    EXPECT_EQ(o.alert, c.alert);
    EXPECT_EQ(o.credentials_rejected, c.credentials);
    EXPECT_EQ(o.error_code, c.type);
    EXPECT_EQ(o.request_id, "req-1");
    // SES's own words reach the DSN and the logs.
    if (!c.message.empty()) {
      EXPECT_NE(o.text.find(c.message), std::string::npos) << o.text;
    }
    EXPECT_NE(o.text.find("(request-id req-1)"), std::string::npos);
  }
}

TEST(ResultMapping, BackoffFromRetryAfterOrTheDefault) {
  SesOutcome o =
      MapSendEmailResponse(Answer(429, "TooManyRequestsException", R"({"message":"slow"})"));
  EXPECT_EQ(o.retry_after, kThrottleBackoffSeconds);
  http::Response r = Answer(429, "TooManyRequestsException", "{}");
  r.retry_after_seconds = 7;
  EXPECT_EQ(MapSendEmailResponse(r).retry_after, 7);
  r = Answer(503, "ServiceUnavailable", "{}");
  EXPECT_EQ(MapSendEmailResponse(r).retry_after, 0);  // qmgr's own back-off
  r.retry_after_seconds = 30;
  EXPECT_EQ(MapSendEmailResponse(r).retry_after, 30);
  o = MapSendEmailResponse(
      Answer(400, "Throttling", R"({"Message":"Daily message quota exceeded."})"));
  EXPECT_EQ(o.retry_after, kQuotaBackoffSeconds);
  EXPECT_NE(o.text.find("Daily message quota exceeded."), std::string::npos);  // "Message" too
}

TEST(ResultMapping, TransportFailures) {
  auto failed = [](http::TransportError e) {
    http::Response r;
    r.error = e;
    r.error_message =
        "POST https://email.us-east-1.amazonaws.com/v2/email/outbound-emails: what happened";
    return MapSendEmailResponse(r);
  };
  SesOutcome o = failed(http::TransportError::kTimeout);
  EXPECT_EQ(o.code, 451);
  EXPECT_EQ(o.enhanced, "4.4.2");
  EXPECT_NE(o.text.find("did not answer in time"), std::string::npos);
  EXPECT_EQ(failed(http::TransportError::kConnectionRefused).enhanced, "4.4.1");
  EXPECT_EQ(failed(http::TransportError::kConnectTimeout).enhanced, "4.4.1");
  EXPECT_EQ(failed(http::TransportError::kConnectionLost).enhanced, "4.4.2");
  o = failed(http::TransportError::kTlsVerify);
  EXPECT_EQ(o.enhanced, "4.7.5");
  EXPECT_TRUE(o.alert);
  for (auto e : {http::TransportError::kResolve, http::TransportError::kProtocol,
                 http::TransportError::kTooLarge, http::TransportError::kInvalidRequest,
                 http::TransportError::kOther}) {
    EXPECT_EQ(failed(e).code, 451);
  }
}

}  // namespace
}  // namespace mailrelay::ses
