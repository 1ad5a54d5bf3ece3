// relayctl's server: run_dir/control.sock, one request and one reply per connection.
// Verbs are a declarative table; peers are checked with SO_PEERCRED (root, qmgr's own user
// or members of the mailrelay group). Replies are JSON; relayctl renders tables from them.
// qmgr's loop thread only.
#pragma once

#include <event2/listener.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/ipc/channel.h"
#include "common/json/json.h"
#include "qmgr/commit.h"
#include "qmgr/dispatcher.h"
#include "qmgr/injector.h"
#include "qmgr/master_link.h"
#include "qmgr/queue.h"
#include "qmgr/spool.h"

namespace mailrelay::qmgr {

struct ControlReply {
  int exit_code = 0;  // 0 ok, 1 failed action, 2 bad usage
  json::Value body = json::Value::MakeObject();
  std::string error;  // one line saying what to do
};

class Control {
 public:
  Control(event_base* base, Queue* queue, Spool* spool, Dispatcher* dispatcher, Injector* injector,
          MasterLink* master, CommitTracker* commits, const config::Config& cfg);
  ~Control();
  util::Status Listen(int fd);
  void Reconfigure(const config::Config& cfg) { cfg_ = cfg; }

  // The verbs, callable directly (tests) or through the socket. `done` may run later
  // (reload waits for mailrelayd; changes wait for the commit).
  void Handle(const std::string& verb, const std::vector<std::string>& args,
              std::function<void(ControlReply)> done);

  json::Value StatusJson() const;
  json::Value MessageJson(const Message& m, bool full) const;

 private:
  struct Conn {
    uint64_t id;
    std::unique_ptr<ipc::Channel> ch;
    bool hello = false;
    bool answered = false;
  };
  static void OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg);
  bool PeerAllowed(int fd, std::string* who) const;

  event_base* base_;
  Queue* queue_;
  Spool* spool_;
  Dispatcher* dispatcher_;
  Injector* injector_;
  MasterLink* master_;
  CommitTracker* commits_;
  config::Config cfg_;
  evconnlistener* listener_ = nullptr;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_ = 1;
};

}  // namespace mailrelay::qmgr
