// Prometheus /metrics and /healthz on [server] metrics_listen (mailrelayd binds it and hands
// qmgr the socket), with libevent's evhttp on qmgr's loop. /healthz is 200 only when every
// process is running and the spool takes writes; otherwise 503 with the reason.
#pragma once

#include <event2/event.h>
#include <event2/http.h>

#include <map>
#include <string>
#include <vector>

#include "qmgr/commit.h"
#include "qmgr/dispatcher.h"
#include "qmgr/injector.h"
#include "qmgr/master_link.h"
#include "qmgr/queue.h"
#include "qmgr/spool.h"

namespace mailrelay::qmgr {

// A Prometheus histogram with fixed buckets (seconds).
class Histogram {
 public:
  Histogram();
  void Observe(double v);
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // cumulative at render time
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics(event_base* base, Queue* queue, Spool* spool, Dispatcher* dispatcher, Injector* injector,
          MasterLink* master, CommitTracker* commits, const config::Config& cfg);
  ~Metrics();
  util::Status Listen(int fd);
  void ObserveDelivery(const std::string& backend, double seconds) { latency_[backend].Observe(seconds); }
  std::string Render() const;
  // Empty when healthy, else why not.
  std::string Unhealthy() const;

 private:
  static void OnRequest(evhttp_request* req, void* arg);

  evhttp* http_ = nullptr;
  event_base* base_;
  Queue* queue_;
  Spool* spool_;
  Dispatcher* dispatcher_;
  Injector* injector_;
  MasterLink* master_;
  CommitTracker* commits_;
  config::Config cfg_;
  std::map<std::string, Histogram> latency_;
};

}  // namespace mailrelay::qmgr
