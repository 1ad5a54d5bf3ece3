// Host name lookups for the smarthost without blocking the agent's loop: getaddrinfo(3)
// (so /etc/hosts, nsswitch and gai.conf ordering apply, IPv6 and IPv4) on one worker
// thread; answers come back on the loop through an eventfd. Concurrent lookups of the same
// name share one query. Use from the loop's thread only; the worker never touches the loop.
// Failures arrive as a Status (kNotFound: no such host; kUnavailable: try again later).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/util/status.h"

struct event;
struct event_base;

namespace mailrelay::deliver_smtp {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string ip;  // "192.0.2.1", "2001:db8::1"
};

// A literal address ("192.0.2.1", "2001:db8::1") as an endpoint, or kInvalidArgument.
util::Result<Endpoint> LiteralEndpoint(const std::string& ip, int port);

// getaddrinfo(3) without a port: every IPv4 and IPv6 address, duplicates removed.
util::Result<std::vector<Endpoint>> LookupHost(const std::string& host);

class Resolver {
 public:
  using Callback = std::function<void(util::Result<std::vector<Endpoint>>)>;
  // Runs on the worker thread (tests substitute their own).
  using LookupFn = std::function<util::Result<std::vector<Endpoint>>(const std::string& host)>;

  explicit Resolver(event_base* base, LookupFn lookup = LookupHost);
  // Does not wait for a lookup in progress: the worker finishes it alone and exits.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Every address of `host` with `port`, in getaddrinfo's order, duplicates removed. `done`
  // runs later on the loop, never from inside Resolve(). Returns an id for Cancel().
  uint64_t Resolve(const std::string& host, int port, Callback done);
  // Drops the callback of a lookup that has not answered yet.
  void Cancel(uint64_t id);

 private:
  struct Shared;
  struct Waiter {
    uint64_t id;
    int port;
    Callback done;
  };
  static void OnNotify(int fd, short events, void* arg);
  void Deliver();

  event_base* base_;
  LookupFn lookup_;
  event* notify_ = nullptr;
  std::shared_ptr<Shared> shared_;
  uint64_t next_id_ = 1;
  std::map<std::string, std::vector<Waiter>> waiting_;  // host -> callers
};

}  // namespace mailrelay::deliver_smtp
