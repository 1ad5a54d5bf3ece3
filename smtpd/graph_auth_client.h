// smtpd's side of Graph passthrough AUTH ([graph] passthrough_auth): asks deliver-graph over
// run_dir/graph-auth.sock whether a tenant<delimiter>client user name and its client secret
// get a Graph token, and hands back the secret sealed to deliver-graph's key for the spool.
// One connection, made when first needed and shared by every session (checks multiplexed by
// request id). Each check ends exactly once: accepted, refused, or "try later" when
// deliver-graph is unreachable, answers nothing in time or goes away: never accepted on doubt.
// smtpd's loop only.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/ipc/channel.h"

namespace mailrelay::smtpd {

class GraphAuthClient {
 public:
  enum class Outcome { kAccepted, kRefused, kTryLater };
  struct Answer {
    Outcome outcome = Outcome::kTryLater;
    std::string text;           // deliver-graph's reason (for the log, never for the client)
    std::string sealed_secret;  // kAccepted: goes into inject_begin
  };
  using DoneFn = std::function<void(Answer)>;

  // `timeout`: how long a check may take before it is answered "try later".
  GraphAuthClient(event_base* base, std::string socket_path, std::chrono::milliseconds timeout);
  ~GraphAuthClient();
  GraphAuthClient(const GraphAuthClient&) = delete;
  GraphAuthClient& operator=(const GraphAuthClient&) = delete;

  // Starts a check; `done` runs exactly once, on the loop (possibly before Check returns when
  // deliver-graph cannot be reached), unless Cancel(id) comes first. The secret is wiped here.
  uint32_t Check(const std::string& user, std::string secret, const std::string& client,
                 DoneFn done);
  void Cancel(uint32_t id);

  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    DoneFn done;
    std::chrono::steady_clock::time_point deadline;
    std::string user, secret, client;  // until sent; the secret is wiped then
    bool sent = false;
  };
  static void OnTick(evutil_socket_t, short, void* arg);
  bool EnsureConnected();
  void OnMessage(ipc::Message& m);
  void OnClose(const std::string& why);
  void FailAll(const std::string& why);
  void Complete(uint32_t id, Answer answer);
  void Flush();
  void Arm();

  event_base* base_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<ipc::Channel> ch_;
  bool ready_ = false;  // deliver-graph's hello arrived and ours went out
  uint32_t next_id_ = 1;
  std::map<uint32_t, Pending> pending_;
  event* tick_ = nullptr;  // one janitor timer for every deadline
};

}  // namespace mailrelay::smtpd
