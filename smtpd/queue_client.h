// smtpd's one connection to qmgr (run_dir/qmgr.sock), shared by every session: injections
// are multiplexed by request id, bodies stream in chunks, and each session hears exactly
// once whether its message was committed (250 + queue id) or not. Losing qmgr fails every
// open injection with 451 and reconnects. smtpd's loop thread only.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "common/ipc/channel.h"

namespace mailrelay::smtpd {

struct InjectResult {
  int code = 451;
  std::string enhanced = "4.3.0";
  std::string text = "Local error in processing";
  std::string queue_id;
};

struct Envelope {
  std::string sender;
  std::vector<std::string> recipients;
  std::string client;
  std::string helo;
  std::string auth_user;
  std::string protocol;
  std::string tls;
  bool smtputf8 = false;
  std::string body_type;
  std::string sealed_secret;
};

class QueueClient {
 public:
  QueueClient(event_base* base, std::string socket_path);
  ~QueueClient();

  void Connect();
  bool connected() const { return ch_ && ready_; }
  bool accepting() const { return connected() && accepting_; }
  // The socket to qmgr has this much queued: sessions pause reading DATA above a limit.
  bool congested() const;
  // Called when the congestion clears.
  void OnDrained(std::function<void()> fn) { drained_waiters_.push_back(std::move(fn)); }

  using ResultFn = std::function<void(const InjectResult&)>;
  // Starts an injection; `done` runs exactly once (possibly early, e.g. queue full), unless
  // Abandon() was called first.
  uint32_t Begin(const Envelope& env, ResultFn done);
  void Chunk(uint32_t id, std::string_view data);
  void End(uint32_t id, uint64_t size, const std::string& digest, const std::string& message_id,
           const std::string& subject);
  void Abort(uint32_t id, const std::string& why);
  // The session gave up waiting (or went away): forget the callback.
  void Abandon(uint32_t id);

 private:
  static void OnRetry(evutil_socket_t, short, void* arg);
  void OnMessage(ipc::Message& m);
  void OnClose(const std::string& why);
  void FailAll(const std::string& why);

  event_base* base_;
  std::string path_;
  std::unique_ptr<ipc::Channel> ch_;
  bool ready_ = false;
  bool accepting_ = true;
  uint32_t next_id_ = 1;
  std::map<uint32_t, ResultFn> pending_;
  std::set<uint32_t> ended_;  // End() sent; a result before that is an early refusal
  event* retry_ev_;
  int failures_ = 0;
  std::vector<std::function<void()>> drained_waiters_;
};

}  // namespace mailrelay::smtpd
