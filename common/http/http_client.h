// HttpClient: many concurrent HTTP(S) requests on libcurl's multi interface, driven by the
// caller's libevent loop; use it from that loop's thread only (no threads of its own).
// Every outcome, a refused URL included, arrives in the callback on the loop as Response::error.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http/headers.h"
#include "common/util/clock.h"
#include "common/util/status.h"

struct event_base;

namespace mailrelay::http {

// What went wrong below HTTP. Everything but kNone means no complete response was received.
enum class TransportError {
  kNone = 0,
  kInvalidRequest,     // refused before sending: bad URL, http:// to a non-loopback host, bad
                       // header or method
  kResolve,            // host name did not resolve
  kConnectionRefused,  // the peer answered the connect with RST
  kConnectFailed,      // any other connect failure (unreachable, ...)
  kConnectTimeout,     // not connected (TCP + TLS) within the time: nothing was sent
  kTimeout,            // connected, but the whole exchange did not finish in time: the peer
                       // may have acted on the request
  kTlsVerify,          // the server certificate failed verification (unknown CA, wrong name,
                       // expired)
  kTls,                // other TLS failure (handshake, protocol, unreadable CA file)
  kConnectionLost,     // reset or closed while sending or receiving
  kProtocol,           // the peer did not speak HTTP
  kTooLarge,           // the response body exceeded Request::max_response_size (or the
                       // headers 256 KiB)
  kOther,
};
const char* TransportErrorName(TransportError error);

struct Request {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH, DELETE, ...
  std::string url;
  // Sent in this order. Never quoted in errors or logs (they carry Authorization).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                                  // never quoted in errors or logs
  std::chrono::milliseconds timeout{30000};          // the whole exchange, from the start of the
                                                     // transfer (time spent queued does not count)
  std::chrono::milliseconds connect_timeout{10000};  // TCP and TLS handshake
  // Extra PEM CA bundle trusted in addition to the system store (private PKI, tests).
  std::string ca_file;
  bool verify_peer = true;              // chain
  bool verify_host = true;              // name
  size_t max_response_size = 16 << 20;  // body bytes; past this the request fails (kTooLarge)
  // A cloud metadata service on a link-local address that only speaks plain HTTP (EC2 IMDS
  // at 169.254.169.254, ECS at 169.254.170.2): http:// is allowed although the host is not
  // loopback, and no proxy is used. The caller vouches for the host; default off.
  bool metadata_service = false;
};

struct Response {
  int status = 0;     // HTTP status; 0 if none was received. With a transport error it is
                      // whatever arrived before the failure.
  HeaderMap headers;  // of the final response; lowercase names
  std::string body;
  TransportError error = TransportError::kNone;
  std::string error_message;  // for logs: method, URL without query, what failed
  // Seconds the server asked us to wait (Retry-After, retry-after-ms, x-ms-retry-after-ms).
  std::optional<int64_t> retry_after_seconds;
  int64_t elapsed_micros = 0;  // transfer time as libcurl measured it

  bool transport_ok() const { return error == TransportError::kNone; }
  bool ok() const { return transport_ok() && status >= 200 && status < 300; }
  const std::string* Header(std::string_view name) const { return FindHeader(headers, name); }
  // The transport outcome as a Status: OK when a response arrived (whatever its status),
  // kTimeout for timeouts, kInvalidArgument for refused requests, kResourceExhausted for
  // kTooLarge, kUnavailable for the rest.
  util::Status TransportStatus() const;
};

struct ClientOptions {
  size_t max_concurrent = 32;  // transfers running at once; the rest wait in FIFO order
  std::string user_agent = "mailrelay/0.1";
  // Hashed CA directory kept trusted when a Request names an extra ca_file.
  std::string system_ca_dir = "/etc/ssl/certs";
  // nullopt: libcurl's usual https_proxy/no_proxy environment handling; "": never a proxy;
  // otherwise the proxy URL. Loopback destinations never go through a proxy.
  std::optional<std::string> proxy;
  const util::Clock* clock = nullptr;  // for Retry-After dates; nullptr = Clock::System()
};

// One multi handle, so kept-alive connections are reused across requests; one libevent event
// per socket plus one timer, curl_multi_socket_action() on readiness, no polling loop.
// Callbacks must not run the event loop themselves.
class HttpClient {
 public:
  using RequestId = uint64_t;  // never 0
  using Callback = std::function<void(Response)>;

  // `base` must outlive the client.
  HttpClient(event_base* base, ClientOptions options = {});
  // Aborts every outstanding request. Their callbacks are dropped, not called: the owner is
  // going away and must not be called back half-destroyed. Safe to call from a callback.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Queues `request`; `done` runs exactly once, later, on the loop (unless cancelled or the
  // client is destroyed first).
  RequestId Send(Request request, Callback done);
  // Aborts a request that has not called back yet and drops its callback. False if it has
  // already called back (or is calling back right now) or the id is unknown.
  bool Cancel(RequestId id);

  size_t running() const;  // transfers in libcurl
  size_t queued() const;   // waiting for a slot
  event_base* base() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailrelay::http
