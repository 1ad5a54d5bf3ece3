#include "qmgr/metrics.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <unistd.h>

#include <cstdio>

#include "common/log/log.h"
#include "common/util/clock.h"

namespace mailrelay::qmgr {

namespace {
std::string Num(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
}  // namespace

Histogram::Histogram() : bounds_{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400},
                         counts_(bounds_.size(), 0) {}

void Histogram::Observe(double v) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (v <= bounds_[i]) ++counts_[i];
  }
  sum_ += v;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& labels, std::string* out) const {
  std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < bounds_.size(); ++i) {
    *out += name + "_bucket{" + labels + sep + "le=\"" + Num(bounds_[i]) + "\"} " + std::to_string(counts_[i]) + "\n";
  }
  *out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
  *out += name + "_sum{" + labels + "} " + Num(sum_) + "\n";
  *out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

Metrics::Metrics(event_base* base, Queue* queue, Spool* spool, Dispatcher* dispatcher, Injector* injector,
                 MasterLink* master, CommitTracker* commits, const config::Config& cfg)
    : base_(base),
      queue_(queue),
      spool_(spool),
      dispatcher_(dispatcher),
      injector_(injector),
      master_(master),
      commits_(commits),
      cfg_(cfg) {}

Metrics::~Metrics() {
  if (http_) evhttp_free(http_);
}

util::Status Metrics::Listen(int fd) {
  http_ = evhttp_new(base_);
  if (!http_) return util::Internal("evhttp_new failed");
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
  evhttp_set_max_headers_size(http_, 8192);
  evhttp_set_max_body_size(http_, 0);
  evhttp_set_timeout(http_, 10);
  evhttp_set_gencb(http_, &Metrics::OnRequest, this);
  if (!evhttp_accept_socket_with_handle(http_, fd)) return util::Internal("cannot serve metrics on the socket");
  return util::Status::Ok();
}

std::string Metrics::Unhealthy() const {
  const auto& procs = master_->processes();
  if (procs.empty()) return "no process table from mailrelayd yet";
  for (const auto& p : procs) {
    if (p.state != "running") return p.name + " is " + p.state;
  }
  if (!commits_->healthy()) return "the last spool commit failed";
  if (access(cfg_.server.spool_dir.c_str(), W_OK) != 0) return "spool_dir is not writable";
  if (!injector_->accepting()) return "not accepting mail (queue full or the spool's disk nearly full)";
  return "";
}

std::string Metrics::Render() const {
  std::string out;
  QueueStats s = queue_->Stats();
  out += "# HELP mailrelay_queue_messages Messages in the queue by state.\n# TYPE mailrelay_queue_messages gauge\n";
  out += "mailrelay_queue_messages{state=\"ready\"} " + std::to_string(s.ready) + "\n";
  out += "mailrelay_queue_messages{state=\"delivering\"} " + std::to_string(s.delivering) + "\n";
  out += "mailrelay_queue_messages{state=\"deferred\"} " + std::to_string(s.deferred) + "\n";
  out += "mailrelay_queue_messages{state=\"held\"} " + std::to_string(s.held) + "\n";
  out += "# HELP mailrelay_queue_oldest_age_seconds Age of the oldest queued message.\n"
         "# TYPE mailrelay_queue_oldest_age_seconds gauge\n";
  int64_t oldest = s.oldest_arrival ? util::Clock::System().NowSeconds() - s.oldest_arrival : 0;
  out += "mailrelay_queue_oldest_age_seconds " + std::to_string(oldest) + "\n";
  out += "# HELP mailrelay_queue_accepting 1 while new mail can be stored.\n# TYPE mailrelay_queue_accepting gauge\n";
  out += std::string("mailrelay_queue_accepting ") + (injector_->accepting() ? "1" : "0") + "\n";
  out += "# HELP mailrelay_messages_accepted_total Messages committed to the spool from smtpd.\n"
         "# TYPE mailrelay_messages_accepted_total counter\n";
  out += "mailrelay_messages_accepted_total " + std::to_string(injector_->accepted()) + "\n";
  out += "# HELP mailrelay_recipients_total Delivery results per backend.\n# TYPE mailrelay_recipients_total counter\n";
  for (const auto& [backend, c] : queue_->counters()) {
    out += "mailrelay_recipients_total{backend=\"" + backend + "\",result=\"delivered\"} " + std::to_string(c.delivered) + "\n";
    out += "mailrelay_recipients_total{backend=\"" + backend + "\",result=\"deferred\"} " + std::to_string(c.deferred) + "\n";
    out += "mailrelay_recipients_total{backend=\"" + backend + "\",result=\"bounced\"} " + std::to_string(c.bounced) + "\n";
  }
  out += "# HELP mailrelay_delivery_latency_seconds Arrival to delivery, per backend.\n"
         "# TYPE mailrelay_delivery_latency_seconds histogram\n";
  for (const auto& [backend, h] : latency_) h.Render("mailrelay_delivery_latency_seconds", "backend=\"" + backend + "\"", &out);
  out += "# HELP mailrelay_deliveries_in_flight Jobs handed to agents and not answered yet.\n"
         "# TYPE mailrelay_deliveries_in_flight gauge\n";
  for (config::Backend b : cfg_.UsedBackends()) {
    out += std::string("mailrelay_deliveries_in_flight{backend=\"") + config::BackendName(b) + "\"} " +
           std::to_string(dispatcher_->InFlight(b)) + "\n";
  }
  out += "# HELP mailrelay_process_up 1 when the process is running.\n# TYPE mailrelay_process_up gauge\n";
  for (const auto& p : master_->processes()) {
    out += "mailrelay_process_up{process=\"" + p.name + "\"} " + (p.state == "running" ? "1" : "0") + "\n";
  }
  out += "# HELP mailrelay_process_restarts_last_hour Restarts in the last hour.\n"
         "# TYPE mailrelay_process_restarts_last_hour gauge\n";
  for (const auto& p : master_->processes()) {
    out += "mailrelay_process_restarts_last_hour{process=\"" + p.name + "\"} " + std::to_string(p.restarts) + "\n";
  }
  out += "# HELP mailrelay_spool_commits_total SQLite transactions committed.\n"
         "# TYPE mailrelay_spool_commits_total counter\n";
  out += "mailrelay_spool_commits_total " + std::to_string(commits_->commits()) + "\n";
  out += "# HELP mailrelay_spool_fsyncs_total WAL fsyncs that released acknowledgements.\n"
         "# TYPE mailrelay_spool_fsyncs_total counter\n";
  out += "mailrelay_spool_fsyncs_total " + std::to_string(commits_->syncs()) + "\n";
  out += "# HELP mailrelay_up 1 when /healthz would answer 200.\n# TYPE mailrelay_up gauge\n";
  out += std::string("mailrelay_up ") + (Unhealthy().empty() ? "1" : "0") + "\n";
  return out;
}

void Metrics::OnRequest(evhttp_request* req, void* arg) {
  auto* self = static_cast<Metrics*>(arg);
  const char* uri = evhttp_request_get_uri(req);
  std::string path = uri ? uri : "/";
  path = path.substr(0, path.find('?'));
  evbuffer* body = evbuffer_new();
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  if (path == "/metrics") {
    std::string text = self->Render();
    evbuffer_add(body, text.data(), text.size());
    evhttp_add_header(headers, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", body);
  } else if (path == "/healthz") {
    std::string why = self->Unhealthy();
    std::string text = why.empty() ? "ok\n" : "unhealthy: " + why + "\n";
    evbuffer_add(body, text.data(), text.size());
    evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
    evhttp_send_reply(req, why.empty() ? 200 : 503, why.empty() ? "OK" : "Service Unavailable", body);
  } else {
    evbuffer_add_printf(body, "not found; try /metrics or /healthz\n");
    evhttp_send_reply(req, 404, "Not Found", body);
  }
  evbuffer_free(body);
}

}  // namespace mailrelay::qmgr
