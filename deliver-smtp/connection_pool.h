// The agent's SMTP connections to the smarthost: owns them, keeps idle ones for the next
// message (most recently used first, so the rest age out), retires a connection after
// max_messages_per_connection messages or idle_timeout seconds, and deletes closed ones
// later, never inside their own callbacks. Loop thread only; nothing here fails.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "deliver-smtp/connection.h"

struct event;

namespace mailrelay::deliver_smtp {

class ConnectionPool {
 public:
  // `settings` may still be filled in after construction; `base` must be valid now.
  ConnectionPool(event_base* base, const Settings* settings, int64_t idle_timeout,
                 int max_messages);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // The most recently parked usable connection, or nullptr.
  Connection* TakeIdle();
  // A new connection; it connects when handed its first message.
  Connection* Open();
  // `c` finished a message: park it for the next one, or QUIT it when it has carried
  // max_messages, is not usable any more, or the agent is stopping.
  void Release(Connection* c);
  // QUITs every idle connection; from now on released ones are QUIT too.
  void Shutdown();

  size_t open() const { return conns_.size(); }
  size_t idle() const { return idle_.size(); }
  uint64_t opened() const { return next_id_ - 1; }  // connections made so far

 private:
  void OnClosed(Connection* c);
  static void OnReap(int fd, short what, void* arg);

  const Settings* s_;
  int64_t idle_timeout_;
  int max_messages_;
  std::map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::vector<Connection*> idle_;  // parked, oldest first
  std::vector<std::unique_ptr<Connection>> dead_;
  event* reap_ = nullptr;
  uint64_t next_id_ = 1;
  bool shutting_down_ = false;
};

}  // namespace mailrelay::deliver_smtp
