// qmgr's side of injection: smtpd connections on run_dir/qmgr.sock. Bodies stream in
// chunks; past 1 MiB they spill into the spool as they arrive, so memory stays bounded.
// Nothing is answered 250 before the group commit holding it is durable. Every field from
// smtpd is validated again here: a compromised smtpd can lose its own messages, no more.
// qmgr's loop thread only.
#pragma once

#include <event2/listener.h>

#include <map>
#include <memory>
#include <string>

#include "common/config/config.h"
#include "common/ipc/channel.h"
#include "common/util/crypto.h"
#include "qmgr/commit.h"
#include "qmgr/queue.h"

namespace mailrelay::qmgr {

class Injector {
 public:
  Injector(event_base* base, Queue* queue, Spool* spool, CommitTracker* commits, const config::Config& cfg);
  ~Injector();
  util::Status Listen(int fd);
  void Reconfigure(const config::Config& cfg) { cfg_ = cfg; }
  // Tells every smtpd whether new mail can be stored (queue size, free disk space).
  void UpdateStatus();
  bool accepting() const { return accepting_; }
  size_t connections() const { return conns_.size(); }
  uint64_t accepted() const { return accepted_; }

 private:
  struct Pending {
    Message msg;
    std::string buf;
    util::Sha256Stream sha;
    uint64_t size = 0;
    int seq = 0;
    bool spilled = false;
    bool failed = false;  // answered already; swallow the rest
  };
  struct Conn {
    uint64_t id;
    std::unique_ptr<ipc::Channel> ch;
    bool hello = false;
    std::map<uint32_t, std::unique_ptr<Pending>> pending;
  };

  static void OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg);
  void OnMessage(Conn& c, ipc::Message& m);
  void Begin(Conn& c, const ipc::Message& m);
  void Chunk(Conn& c, Pending& p, const ipc::Message& m);
  void End(Conn& c, uint32_t req, const ipc::Message& m);
  void Reply(uint64_t conn_id, uint32_t req, int code, const std::string& enhanced, const std::string& text,
             const std::string& queue_id = "");
  void Refuse(Conn& c, uint32_t req, Pending& p, int code, const std::string& enhanced, const std::string& text);
  void Discard(Pending& p);
  void Close(uint64_t conn_id, const std::string& why);
  bool DiskHasRoom() const;

  event_base* base_;
  Queue* queue_;
  Spool* spool_;
  CommitTracker* commits_;
  config::Config cfg_;
  evconnlistener* listener_ = nullptr;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_conn_ = 1;
  bool accepting_ = true;
  uint64_t accepted_ = 0;
};

// An envelope address as qmgr accepts it from smtpd: bounded, no controls, spaces or
// angle brackets; 8-bit only with SMTPUTF8; empty only where allowed (the null sender).
bool ValidEnvelopeAddress(std::string_view a, bool smtputf8, bool allow_empty);

}  // namespace mailrelay::qmgr
