#include "common/http/answer.h"

#include <gtest/gtest.h>

#include "common/util/strings.h"

namespace mailrelay::http {
namespace {

Response Failed(TransportError e, std::string message = "POST https://x/: what happened") {
  Response r;
  r.error = e;
  r.error_message = std::move(message);
  return r;
}

TEST(Answer, SaysWhatTheServiceAnswered) {
  Response r;
  r.status = 503;
  EXPECT_EQ(Answered("ACS", r, ""), "ACS answered 503 Service Unavailable");
  EXPECT_EQ(Answered("Graph", r, "ErrorThrottled: slow down"), "Graph answered 503 ErrorThrottled: slow down");
  r.status = 599;
  EXPECT_EQ(Answered("SES", r, ""), "SES answered 599");
}

TEST(Answer, NoAnswerIsAlwaysADeferralWithTheKindOfFailure) {
  EXPECT_EQ(DescribeTransportFailure("ACS", Failed(TransportError::kConnectionRefused)).enhanced, "4.4.1");
  EXPECT_EQ(DescribeTransportFailure("ACS", Failed(TransportError::kResolve)).enhanced, "4.4.1");
  TransportFailure timeout = DescribeTransportFailure("SES", Failed(TransportError::kTimeout));
  EXPECT_EQ(timeout.enhanced, "4.4.2");
  EXPECT_EQ(timeout.text.rfind("SES did not answer in time", 0), 0u) << timeout.text;
  EXPECT_FALSE(timeout.config_error);
  EXPECT_EQ(DescribeTransportFailure("ACS", Failed(TransportError::kConnectionLost)).enhanced, "4.4.2");
  for (TransportError tls : {TransportError::kTls, TransportError::kTlsVerify}) {
    TransportFailure f = DescribeTransportFailure("Graph", Failed(tls));
    EXPECT_EQ(f.enhanced, "4.7.5");
    EXPECT_TRUE(f.config_error);
  }
  TransportFailure bad = DescribeTransportFailure("ACS", Failed(TransportError::kInvalidRequest));
  EXPECT_EQ(bad.enhanced, "4.3.5");
  EXPECT_TRUE(bad.config_error);
  EXPECT_EQ(DescribeTransportFailure("ACS", Failed(TransportError::kOther)).enhanced, "4.3.0");
}

TEST(Answer, PeerTextBecomesOneBoundedLine) {
  TransportFailure f = DescribeTransportFailure("ACS", Failed(TransportError::kOther, "a\r\nb\tc\nInjected: x"));
  EXPECT_EQ(f.text, "ACS not reached: a b c Injected: x");
  EXPECT_EQ(util::OneLine(std::string(1000, 'x'), 10), "xxxxxxxxxx...");
  EXPECT_EQ(util::OneLine("  \x01ok\r\n", 10), "?ok");
}

}  // namespace
}  // namespace mailrelay::http
