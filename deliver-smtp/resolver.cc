#include "deliver-smtp/resolver.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

namespace mailrelay::deliver_smtp {

namespace {

using Lookup = util::Result<std::vector<Endpoint>>;

void SetPort(Endpoint* e, int port) {
  if (e->addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&e->addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else if (e->addr.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&e->addr)->sin6_port = htons(static_cast<uint16_t>(port));
  }
}

}  // namespace

Lookup LookupHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    std::string why = rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
    std::string text =
        "Host or domain name not found. Name service error for name=" + host + ": " + why;
    if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL) return util::NotFound(text);
    return util::Unavailable(text);
  }
  std::vector<Endpoint> out;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
        ai->ai_addrlen > sizeof(sockaddr_storage))
      continue;
    Endpoint e;
    std::memcpy(&e.addr, ai->ai_addr, ai->ai_addrlen);
    e.len = static_cast<socklen_t>(ai->ai_addrlen);
    char buf[INET6_ADDRSTRLEN] = {};
    const void* src =
        ai->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    inet_ntop(ai->ai_family, src, buf, sizeof buf);
    e.ip = buf;
    bool dup = false;
    for (const auto& have : out) dup |= have.ip == e.ip;
    if (!dup) out.push_back(std::move(e));
  }
  freeaddrinfo(res);
  if (out.empty())
    return util::NotFound("Host or domain name not found. Name service error for name=" + host +
                          ": no IPv4 or IPv6 address");
  return out;
}

util::Result<Endpoint> LiteralEndpoint(const std::string& ip, int port) {
  Endpoint e;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&e.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.addr);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    e.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    e.len = sizeof(sockaddr_in6);
  } else {
    return util::InvalidArgument(ip + " is not an IP address");
  }
  e.ip = ip;
  SetPort(&e, port);
  return e;
}

// Shared by the loop side and the worker; the worker keeps it alive until it exits, so the
// eventfd it writes to is never closed (or reused) under it.
struct Resolver::Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> requests;
  std::deque<std::pair<std::string, Lookup>> answers;
  bool stop = false;
  bool worker_started = false;
  int efd = -1;
  ~Shared() {
    if (efd >= 0) close(efd);
  }
};

Resolver::Resolver(event_base* base, LookupFn lookup)
    : base_(base), lookup_(std::move(lookup)), shared_(std::make_shared<Shared>()) {
  shared_->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (shared_->efd >= 0) {
    notify_ = event_new(base_, shared_->efd, EV_READ | EV_PERSIST, &Resolver::OnNotify, this);
    event_add(notify_, nullptr);
  }
}

Resolver::~Resolver() {
  if (notify_) event_free(notify_);
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->stop = true;
  shared_->cv.notify_all();
}

uint64_t Resolver::Resolve(const std::string& host, int port, Callback done) {
  uint64_t id = next_id_++;
  auto& list = waiting_[host];
  list.push_back({id, port, std::move(done)});
  if (list.size() > 1) return id;  // a lookup of this name is already under way
  std::shared_ptr<Shared> shared = shared_;
  std::lock_guard<std::mutex> lock(shared->mu);
  if (shared->efd < 0) {
    shared->answers.emplace_back(host, util::Internal("cannot create an eventfd for the resolver"));
    // Without the eventfd nothing would wake us: answer through a zero timer instead.
    event_base_once(
        base_, -1, EV_TIMEOUT,
        [](int, short, void* arg) { static_cast<Resolver*>(arg)->Deliver(); }, this, nullptr);
    return id;
  }
  shared->requests.push_back(host);
  if (!shared->worker_started) {
    shared->worker_started = true;
    LookupFn lookup = lookup_;
    std::thread([shared, lookup] {
      std::unique_lock<std::mutex> lk(shared->mu);
      while (true) {
        shared->cv.wait(lk, [&] { return shared->stop || !shared->requests.empty(); });
        if (shared->stop) return;
        std::string name = std::move(shared->requests.front());
        shared->requests.pop_front();
        lk.unlock();
        Lookup result = lookup(name);
        lk.lock();
        if (shared->stop) return;
        shared->answers.emplace_back(std::move(name), std::move(result));
        uint64_t one = 1;
        ssize_t n = write(shared->efd, &one, sizeof one);
        (void)n;
      }
    }).detach();
  } else {
    shared->cv.notify_one();
  }
  return id;
}

void Resolver::Cancel(uint64_t id) {
  for (auto& [host, list] : waiting_) {
    for (auto& w : list) {
      if (w.id == id) w.done = nullptr;  // the lookup goes on; its answer is dropped
    }
  }
}

void Resolver::OnNotify(int fd, short, void* arg) {
  uint64_t count;
  ssize_t n = read(fd, &count, sizeof count);
  (void)n;
  static_cast<Resolver*>(arg)->Deliver();
}

void Resolver::Deliver() {
  std::deque<std::pair<std::string, Lookup>> answers;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    answers.swap(shared_->answers);
  }
  for (auto& [host, result] : answers) {
    auto it = waiting_.find(host);
    if (it == waiting_.end()) continue;
    std::vector<Waiter> waiters = std::move(it->second);
    waiting_.erase(it);
    for (auto& w : waiters) {
      if (!w.done) continue;
      if (!result.ok()) {
        w.done(result.status());
        continue;
      }
      std::vector<Endpoint> eps = *result;
      for (auto& e : eps) SetPort(&e, w.port);
      w.done(std::move(eps));
    }
  }
}

}  // namespace mailrelay::deliver_smtp
