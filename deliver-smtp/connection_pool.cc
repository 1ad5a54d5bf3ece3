#include "deliver-smtp/connection_pool.h"

#include <event2/event.h>

#include <algorithm>

#include "common/log/log.h"

namespace mailrelay::deliver_smtp {

ConnectionPool::ConnectionPool(event_base* base, const Settings* settings, int64_t idle_timeout,
                               int max_messages)
    : s_(settings), idle_timeout_(idle_timeout), max_messages_(max_messages) {
  reap_ = evtimer_new(base, &ConnectionPool::OnReap, this);
}

ConnectionPool::~ConnectionPool() {
  idle_.clear();
  // Destroying a connection runs no callbacks (Close() does, and it is not called here).
  conns_.clear();
  dead_.clear();
  event_free(reap_);
}

Connection* ConnectionPool::TakeIdle() {
  while (!idle_.empty()) {
    Connection* c = idle_.back();
    idle_.pop_back();
    if (c->usable()) return c;
    c->Quit();
  }
  return nullptr;
}

Connection* ConnectionPool::Open() {
  uint64_t id = next_id_++;
  auto c = std::make_unique<Connection>(s_, id, [this](Connection* closed) { OnClosed(closed); });
  Connection* raw = c.get();
  conns_[id] = std::move(c);
  return raw;
}

void ConnectionPool::Release(Connection* c) {
  if (c->closed()) return;
  if (shutting_down_ || !c->usable() || c->messages() >= max_messages_) {
    if (c->usable() && c->messages() >= max_messages_) {
      log::Debug()
          .Kv("relay", c->relay())
          .Kv("conn", c->id())
          .Kv("messages", c->messages())
          .Text("closing after max_messages_per_connection");
    }
    c->Quit();
    return;
  }
  c->Park(idle_timeout_);
  idle_.push_back(c);
}

void ConnectionPool::Shutdown() {
  shutting_down_ = true;
  std::vector<Connection*> idle = std::move(idle_);
  idle_.clear();
  for (Connection* c : idle) c->Quit();
}

void ConnectionPool::OnClosed(Connection* c) {
  idle_.erase(std::remove(idle_.begin(), idle_.end(), c), idle_.end());
  auto it = conns_.find(c->id());
  if (it == conns_.end()) return;
  dead_.push_back(std::move(it->second));
  conns_.erase(it);
  timeval now{0, 0};
  evtimer_add(reap_, &now);
}

void ConnectionPool::OnReap(int, short, void* arg) {
  auto* self = static_cast<ConnectionPool*>(arg);
  std::vector<std::unique_ptr<Connection>> dead = std::move(self->dead_);
  self->dead_.clear();
}

}  // namespace mailrelay::deliver_smtp
