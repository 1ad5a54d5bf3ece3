#include "common/http/http_client.h"

#include <curl/curl.h>
#include <event2/event.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "common/http/url.h"
#include "common/util/strings.h"

namespace mailrelay::http {

const char* TransportErrorName(TransportError error) {
  switch (error) {
    case TransportError::kNone:
      return "none";
    case TransportError::kInvalidRequest:
      return "invalid_request";
    case TransportError::kResolve:
      return "resolve";
    case TransportError::kConnectionRefused:
      return "connection_refused";
    case TransportError::kConnectFailed:
      return "connect_failed";
    case TransportError::kConnectTimeout:
      return "connect_timeout";
    case TransportError::kTimeout:
      return "timeout";
    case TransportError::kTlsVerify:
      return "tls_verify";
    case TransportError::kTls:
      return "tls";
    case TransportError::kConnectionLost:
      return "connection_lost";
    case TransportError::kProtocol:
      return "protocol";
    case TransportError::kTooLarge:
      return "too_large";
    case TransportError::kOther:
      return "other";
  }
  return "unknown";
}

util::Status Response::TransportStatus() const {
  switch (error) {
    case TransportError::kNone:
      return util::Status::Ok();
    case TransportError::kInvalidRequest:
      return util::InvalidArgument(error_message);
    case TransportError::kConnectTimeout:
    case TransportError::kTimeout:
      return util::Status(util::Code::kTimeout, error_message);
    case TransportError::kTooLarge:
      return util::ResourceExhausted(error_message);
    default:
      return util::Unavailable(error_message);
  }
}

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Response headers beyond this are an attack or a broken server, not a reply worth parsing.
constexpr size_t kMaxHeaderBytes = 256 << 10;

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

util::Status CheckRequestShape(const Request& r) {
  if (r.method.empty()) return util::InvalidArgument("empty HTTP method");
  for (char c : r.method) {
    if (c < 'A' || c > 'Z') return util::InvalidArgument("bad HTTP method");
  }
  if ((r.method == "GET" || r.method == "HEAD") && !r.body.empty()) {
    return util::InvalidArgument(r.method + " with a body");
  }
  for (const auto& [name, value] : r.headers) {
    if (name.empty()) return util::InvalidArgument("empty header name");
    for (char c : name) {
      if (!IsTokenChar(c)) {
        return util::InvalidArgument("bad header name " + util::Printable(name, 40));
      }
    }
    // The value is not quoted: it may be a credential.
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return util::InvalidArgument("header " + name + " has a line break or NUL in its value");
    }
  }
  if (r.timeout.count() <= 0 || r.connect_timeout.count() <= 0) {
    return util::InvalidArgument("timeouts must be positive");
  }
  return util::Status::Ok();
}

}  // namespace

class HttpClient::Impl {
 public:
  Impl(event_base* base, ClientOptions options);
  ~Impl();

  RequestId Send(Request request, Callback done);
  bool Cancel(RequestId id);
  size_t running() const { return running_.size(); }
  size_t queued() const { return queued_.size(); }
  event_base* base() const { return base_; }

 private:
  struct Transfer {
    RequestId id = 0;
    Request request;
    Callback done;
    bool loopback = false;
    CURL* easy = nullptr;
    curl_slist* header_list = nullptr;
    Response response;
    size_t header_bytes = 0;
    bool too_large = false;
    char errbuf[CURL_ERROR_SIZE] = {0};

    ~Transfer() {
      if (easy) curl_easy_cleanup(easy);
      curl_slist_free_all(header_list);
    }
  };

  static int OnCurlSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int OnCurlTimer(CURLM* multi, long timeout_ms, void* userp);
  static void OnSocketEvent(evutil_socket_t fd, short events, void* arg);
  static void OnTimerEvent(evutil_socket_t fd, short events, void* arg);
  static void OnDeferredEvent(evutil_socket_t fd, short events, void* arg);
  static size_t OnBody(char* data, size_t size, size_t n, void* userp);
  static size_t OnHeader(char* data, size_t size, size_t n, void* userp);

  util::Status SetUpEasy(Transfer* t);
  void StartQueued();
  void CheckFinished();
  void FailLater(std::unique_ptr<Transfer> t, TransportError error, const std::string& message);
  void FillResponse(Transfer* t, CURLcode code);
  void DeliverCompleted();

  event_base* base_;
  ClientOptions options_;
  CURLM* multi_ = nullptr;
  event* timer_ = nullptr;
  event* deferred_ = nullptr;
  std::unordered_set<event*> socket_events_;
  RequestId next_id_ = 1;
  std::unordered_map<RequestId, std::unique_ptr<Transfer>> running_;
  std::deque<std::unique_ptr<Transfer>> queued_;
  std::deque<std::unique_ptr<Transfer>> completed_;  // waiting for their callback
  bool delivering_ = false;
  // Expires when the Impl dies, so a loop that called back can tell it must not go on.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

HttpClient::Impl::Impl(event_base* base, ClientOptions options)
    : base_(base), options_(std::move(options)) {
  GlobalInit();
  if (options_.max_concurrent == 0) options_.max_concurrent = 1;
  if (!options_.clock) options_.clock = &util::Clock::System();
  multi_ = curl_multi_init();
  timer_ = evtimer_new(base_, &Impl::OnTimerEvent, this);
  deferred_ = event_new(base_, -1, 0, &Impl::OnDeferredEvent, this);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::OnCurlSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::OnCurlTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(options_.max_concurrent));
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
}

HttpClient::Impl::~Impl() {
  alive_.reset();
  for (auto& [id, t] : running_) curl_multi_remove_handle(multi_, t->easy);
  running_.clear();
  queued_.clear();
  completed_.clear();
  // Closing cached connections may still call OnCurlSocket(CURL_POLL_REMOVE); it only touches
  // socket_events_, which is still here.
  curl_multi_cleanup(multi_);
  for (event* ev : socket_events_) event_free(ev);
  event_free(timer_);
  event_free(deferred_);
}

HttpClient::RequestId HttpClient::Impl::Send(Request request, Callback done) {
  auto t = std::make_unique<Transfer>();
  t->id = next_id_++;
  t->request = std::move(request);
  t->done = std::move(done);
  RequestId id = t->id;
  const std::string what = t->request.method + " " + UrlForLog(t->request.url);
  util::Status shape = CheckRequestShape(t->request);
  if (!shape.ok()) {
    FailLater(std::move(t), TransportError::kInvalidRequest, what + ": " + shape.message());
    return id;
  }
  util::Result<UrlParts> url = ParseUrl(t->request.url);
  if (!url.ok()) {
    FailLater(std::move(t), TransportError::kInvalidRequest, url.status().message());
    return id;
  }
  util::Status allowed = CheckUrlAllowed(t->request.url);
  if (!allowed.ok() && !t->request.metadata_service) {
    FailLater(std::move(t), TransportError::kInvalidRequest, what + ": " + allowed.message());
    return id;
  }
  t->loopback = url->loopback || t->request.metadata_service;  // never through a proxy
  queued_.push_back(std::move(t));
  StartQueued();
  return id;
}

bool HttpClient::Impl::Cancel(RequestId id) {
  if (auto it = running_.find(id); it != running_.end()) {
    curl_multi_remove_handle(multi_, it->second->easy);
    running_.erase(it);
    StartQueued();
    return true;
  }
  for (auto* list : {&queued_, &completed_}) {
    for (auto it = list->begin(); it != list->end(); ++it) {
      if ((*it)->id == id) {
        list->erase(it);
        return true;
      }
    }
  }
  return false;
}

void HttpClient::Impl::FailLater(std::unique_ptr<Transfer> t, TransportError error,
                                 const std::string& message) {
  t->response.error = error;
  t->response.error_message = message;
  completed_.push_back(std::move(t));
  event_active(deferred_, EV_TIMEOUT, 1);
}

util::Status HttpClient::Impl::SetUpEasy(Transfer* t) {
  const Request& r = t->request;
  CURL* e = t->easy = curl_easy_init();
  if (!e) return util::Internal("curl_easy_init failed");
  bool ok = true;
  auto set = [&](CURLoption opt, auto value) {
    ok = ok && curl_easy_setopt(e, opt, value) == CURLE_OK;
  };
  set(CURLOPT_URL, r.url.c_str());
  set(CURLOPT_PRIVATE, static_cast<void*>(t));
  set(CURLOPT_ERRORBUFFER, t->errbuf);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
  set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count()));
  set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  set(CURLOPT_SSL_VERIFYPEER, r.verify_peer ? 1L : 0L);
  set(CURLOPT_SSL_VERIFYHOST, r.verify_host ? 2L : 0L);
  if (!r.ca_file.empty()) {
    // OpenSSL then trusts the union of the file and the hashed system directory; the compiled-in
    // default bundle alone is used when no extra file is named.
    set(CURLOPT_CAINFO, r.ca_file.c_str());
    if (!options_.system_ca_dir.empty()) set(CURLOPT_CAPATH, options_.system_ca_dir.c_str());
  }
  set(CURLOPT_USERAGENT, options_.user_agent.c_str());
  set(CURLOPT_TCP_KEEPALIVE, 1L);
  set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(r.max_response_size));
  set(CURLOPT_WRITEFUNCTION, &Impl::OnBody);
  set(CURLOPT_WRITEDATA, static_cast<void*>(t));
  set(CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
  set(CURLOPT_HEADERDATA, static_cast<void*>(t));
  if (t->loopback) {
    set(CURLOPT_PROXY, "");
  } else if (options_.proxy) {
    set(CURLOPT_PROXY, options_.proxy->c_str());
  }
  if (r.method == "GET") {
    set(CURLOPT_HTTPGET, 1L);
  } else if (r.method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else {
    if (r.method != "POST") set(CURLOPT_CUSTOMREQUEST, r.method.c_str());
    if (r.method == "POST" || r.method == "PUT" || r.method == "PATCH" || !r.body.empty()) {
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      set(CURLOPT_POSTFIELDS, r.body.data());
    }
  }
  bool has_expect = false;
  for (const auto& [name, value] : r.headers) {
    if (util::EqualsIgnoreCase(name, "expect")) has_expect = true;
    // "Name;" is libcurl's spelling of a header with an empty value.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* next = curl_slist_append(t->header_list, line.c_str());
    if (!next) return util::Internal("out of memory building headers");
    t->header_list = next;
  }
  if (!has_expect) {  // no 100-continue round trip for large bodies
    curl_slist* next = curl_slist_append(t->header_list, "Expect:");
    if (!next) return util::Internal("out of memory building headers");
    t->header_list = next;
  }
  set(CURLOPT_HTTPHEADER, t->header_list);
  if (!ok) return util::Internal("libcurl refused an option");
  return util::Status::Ok();
}

void HttpClient::Impl::StartQueued() {
  while (running_.size() < options_.max_concurrent && !queued_.empty()) {
    std::unique_ptr<Transfer> t = std::move(queued_.front());
    queued_.pop_front();
    util::Status st = SetUpEasy(t.get());
    if (st.ok() && curl_multi_add_handle(multi_, t->easy) != CURLM_OK) {
      st = util::Internal("curl_multi_add_handle failed");
    }
    if (!st.ok()) {
      std::string what = t->request.method + " " + UrlForLog(t->request.url);
      FailLater(std::move(t), TransportError::kOther, what + ": " + st.message());
      continue;
    }
    RequestId id = t->id;
    running_.emplace(id, std::move(t));
  }
}

int HttpClient::Impl::OnCurlSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
  auto* self = static_cast<Impl*>(userp);
  auto* ev = static_cast<event*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (ev) {
      self->socket_events_.erase(ev);
      event_free(ev);
    }
    return 0;
  }
  short kind =
      EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
  if (!ev) {
    ev = event_new(self->base_, fd, kind, &Impl::OnSocketEvent, self);
    if (!ev) return -1;
    self->socket_events_.insert(ev);
    curl_multi_assign(self->multi_, fd, ev);
  } else {
    event_del(ev);
    event_assign(ev, self->base_, fd, kind, &Impl::OnSocketEvent, self);
  }
  return event_add(ev, nullptr) == 0 ? 0 : -1;
}

int HttpClient::Impl::OnCurlTimer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<Impl*>(userp);
  if (timeout_ms < 0) {
    evtimer_del(self->timer_);
    return 0;
  }
  timeval tv = {static_cast<time_t>(timeout_ms / 1000),
                static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
  return evtimer_add(self->timer_, &tv) == 0 ? 0 : -1;
}

void HttpClient::Impl::OnSocketEvent(evutil_socket_t fd, short events, void* arg) {
  auto* self = static_cast<Impl*>(arg);
  int flags =
      ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
  int still_running = 0;
  curl_multi_socket_action(self->multi_, fd, flags, &still_running);
  self->CheckFinished();  // may destroy *self through a callback: nothing after this
}

void HttpClient::Impl::OnTimerEvent(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Impl*>(arg);
  int still_running = 0;
  curl_multi_socket_action(self->multi_, CURL_SOCKET_TIMEOUT, 0, &still_running);
  self->CheckFinished();
}

void HttpClient::Impl::OnDeferredEvent(evutil_socket_t, short, void* arg) {
  static_cast<Impl*>(arg)->DeliverCompleted();
}

size_t HttpClient::Impl::OnBody(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * n;
  if (t->response.body.size() + len > t->request.max_response_size) {
    t->too_large = true;
    return 0;  // anything but len aborts the transfer
  }
  t->response.body.append(data, len);
  return len;
}

size_t HttpClient::Impl::OnHeader(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * n;
  t->header_bytes += len;
  if (t->header_bytes > kMaxHeaderBytes) {
    t->too_large = true;
    return 0;
  }
  AddHeaderLine(t->response.headers, std::string_view(data, len));
  return len;
}

void HttpClient::Impl::FillResponse(Transfer* t, CURLcode code) {
  Response& resp = t->response;
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  resp.status = static_cast<int>(status);
  curl_off_t total = 0;
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total);
  resp.elapsed_micros = static_cast<int64_t>(total);
  resp.retry_after_seconds = RetryAfterFromHeaders(resp.headers, options_.clock->NowSeconds());
  if (code == CURLE_OK) return;

  const Request& r = t->request;
  std::string detail = t->errbuf[0] ? std::string(t->errbuf) : curl_easy_strerror(code);
  TransportError error = TransportError::kOther;
  std::string what;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
      error = TransportError::kResolve;
      what = "cannot resolve host";
      break;
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno == ECONNREFUSED) {
        error = TransportError::kConnectionRefused;
        what = "connection refused";
      } else {
        error = TransportError::kConnectFailed;
        what = "cannot connect";
      }
      break;
    }
    case CURLE_OPERATION_TIMEDOUT: {
      // Pre-transfer time is set once a connection (new, with TLS done, or reused) is ready
      // and the request is about to go out; zero means the request never left.
      curl_off_t ready = 0;
      curl_easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &ready);
      if (ready == 0) {
        error = TransportError::kConnectTimeout;
        what = "connect timed out";
      } else {
        error = TransportError::kTimeout;
        what = "timed out after " + std::to_string(r.timeout.count()) + " ms";
      }
      break;
    }
    case CURLE_PEER_FAILED_VERIFICATION:
      error = TransportError::kTlsVerify;
      what = "TLS certificate verification failed";
      break;
    case CURLE_SSL_CACERT_BADFILE:
      error = TransportError::kTls;
      what = "cannot load the CA file " + util::Printable(r.ca_file, 200);
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
      error = TransportError::kTls;
      what = "TLS failure";
      break;
    case CURLE_FILESIZE_EXCEEDED:
      error = TransportError::kTooLarge;
      break;
    case CURLE_WRITE_ERROR:
      error = t->too_large ? TransportError::kTooLarge : TransportError::kOther;
      what = "write error";
      break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      error = TransportError::kConnectionLost;
      what = "connection lost";
      break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
      error = TransportError::kProtocol;
      what = "not a valid HTTP response";
      break;
    case CURLE_URL_MALFORMAT:
      error = TransportError::kInvalidRequest;
      what = "bad URL";
      break;
    default:
      what = curl_easy_strerror(code);
      break;
  }
  if (error == TransportError::kTooLarge) {
    what = t->header_bytes > kMaxHeaderBytes
               ? "response headers larger than " + std::to_string(kMaxHeaderBytes) + " bytes"
               : "response body larger than " + std::to_string(r.max_response_size) + " bytes";
    detail.clear();
  }
  resp.error = error;
  resp.error_message = r.method + " " + UrlForLog(r.url) + ": " + what;
  if (!detail.empty()) resp.error_message += " (" + util::Printable(detail, 300) + ")";
}

void HttpClient::Impl::CheckFinished() {
  CURLMsg* msg;
  int left = 0;
  while ((msg = curl_multi_info_read(multi_, &left)) != nullptr) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    CURLcode code = msg->data.result;  // msg dies with remove_handle: copy first
    void* priv = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    auto* t = static_cast<Transfer*>(priv);
    curl_multi_remove_handle(multi_, easy);
    auto node = running_.extract(t->id);
    if (node.empty()) continue;  // cannot happen: every handle in the multi is in running_
    FillResponse(t, code);
    completed_.push_back(std::move(node.mapped()));
  }
  StartQueued();
  DeliverCompleted();
}

void HttpClient::Impl::DeliverCompleted() {
  if (delivering_) return;  // an outer DeliverCompleted() further up the stack drains the queue
  delivering_ = true;
  std::weak_ptr<bool> alive = alive_;
  while (!completed_.empty()) {
    std::unique_ptr<Transfer> t = std::move(completed_.front());
    completed_.pop_front();
    Callback done = std::move(t->done);
    Response response = std::move(t->response);
    t.reset();
    if (done) done(std::move(response));
    if (alive.expired()) return;  // the callback destroyed the client
  }
  delivering_ = false;
}

HttpClient::HttpClient(event_base* base, ClientOptions options)
    : impl_(std::make_unique<Impl>(base, std::move(options))) {}

HttpClient::~HttpClient() = default;

HttpClient::RequestId HttpClient::Send(Request request, Callback done) {
  return impl_->Send(std::move(request), std::move(done));
}

bool HttpClient::Cancel(RequestId id) { return impl_->Cancel(id); }
size_t HttpClient::running() const { return impl_->running(); }
size_t HttpClient::queued() const { return impl_->queued(); }
event_base* HttpClient::base() const { return impl_->base(); }

}  // namespace mailrelay::http
