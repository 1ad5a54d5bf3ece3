// What an HTTP service answered, or why it could not, in the words an SMTP result carries:
// shared by the HTTP delivery agents (azure, graph, ses), which map the answers themselves.
#pragma once

#include <string>
#include <string_view>

#include "common/http/http_client.h"

namespace mailrelay::http {

// The standard reason phrase of the statuses the cloud services send ("" for others).
std::string_view ReasonPhrase(int status);

// "ACS answered 400 InvalidAttachment: text" when the service said why (`detail`), else
// "ACS answered 503 Service Unavailable".
std::string Answered(std::string_view service, const Response& response, std::string_view detail);

// A request that got no answer is always deferred (451); what differs is the enhanced code
// and whether the operator must act.
struct TransportFailure {
  std::string enhanced;  // 4.4.1 never connected, 4.4.2 timed out or lost (the service may
                         // have acted), 4.7.5 TLS, 4.3.5 a request that could not be sent,
                         // 4.3.0 anything else
  std::string text;      // "ACS not reached: ..." / "ACS did not answer in time ..."
  bool config_error = false;  // TLS or an unsendable request: our side is wrong, log loudly
};
TransportFailure DescribeTransportFailure(std::string_view service, const Response& response);

}  // namespace mailrelay::http
