#include "common/http/answer.h"

#include "common/util/strings.h"

namespace mailrelay::http {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

std::string Answered(std::string_view service, const Response& response, std::string_view detail) {
  std::string text = std::string(service) + " answered " + std::to_string(response.status);
  std::string_view why = detail.empty() ? ReasonPhrase(response.status) : detail;
  return why.empty() ? text : text + " " + std::string(why);
}

TransportFailure DescribeTransportFailure(std::string_view service, const Response& response) {
  const std::string said = util::OneLine(response.error_message, 300);
  TransportFailure f{"4.3.0", std::string(service) + " not reached: " + said, false};
  switch (response.error) {
    case TransportError::kResolve:
    case TransportError::kConnectionRefused:
    case TransportError::kConnectFailed:
    case TransportError::kConnectTimeout:
      f.enhanced = "4.4.1";
      break;
    case TransportError::kTimeout:
      // Connected and sent: the service may have acted on it, so the retry may be a second
      // copy unless the backend made the request repeatable (ACS does).
      f.enhanced = "4.4.2";
      f.text = std::string(service) + " did not answer in time; it may have taken the message (" + said + ")";
      break;
    case TransportError::kConnectionLost:
    case TransportError::kProtocol:
    case TransportError::kTooLarge:
      f.enhanced = "4.4.2";
      break;
    case TransportError::kTlsVerify:
    case TransportError::kTls:
      f.enhanced = "4.7.5";
      f.config_error = true;
      break;
    case TransportError::kInvalidRequest:
      f.enhanced = "4.3.5";
      f.config_error = true;
      break;
    default:
      break;
  }
  return f;
}

}  // namespace mailrelay::http
