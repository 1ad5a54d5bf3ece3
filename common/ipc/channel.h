// One IPC connection on a libevent loop: frames in, frames out, one close path that says
// why. A peer that sends a malformed frame is disconnected (and logged by the owner); it can
// never crash the process. Single-threaded: use from the loop that owns `base`.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>

#include "common/ipc/frame.h"
#include "common/util/status.h"

namespace mailrelay::ipc {

class Channel {
 public:
  using MessageFn = std::function<void(Message&)>;
  using CloseFn = std::function<void(const std::string& reason)>;

  // Takes ownership of fd (a connected Unix stream socket).
  Channel(event_base* base, int fd, size_t max_payload = kDefaultMaxPayload);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // on_message may destroy the Channel; on_close is called at most once, never from inside
  // Send(), and the Channel may be destroyed inside it.
  void Start(MessageFn on_message, CloseFn on_close);
  // Queues a frame. Fails only for a message that does not fit its schema (a bug).
  util::Status Send(const Message& m);
  // Queues a frame whose last field is `data`, without copying it: the buffer references
  // `owner`'s bytes until they are written. For message bodies.
  util::Status SendWithData(const Message& head, Tag data_tag, std::string_view data,
                            std::shared_ptr<const std::string> owner);
  // Called whenever the output buffer becomes empty (flow control for big bodies).
  void SetDrainedCallback(std::function<void()> fn) { on_drained_ = std::move(fn); }
  size_t OutputPending() const;
  bool closed() const { return closed_; }
  // Stops reading, flushes what is queued, then closes (on_close is not called).
  void CloseAfterFlush();
  int fd() const;

 private:
  static void ReadCb(bufferevent* bev, void* arg);
  static void WriteCb(bufferevent* bev, void* arg);
  static void EventCb(bufferevent* bev, short what, void* arg);
  void Fail(const std::string& reason);

  bufferevent* bev_;
  size_t max_payload_;
  MessageFn on_message_;
  CloseFn on_close_;
  std::function<void()> on_drained_;
  bool closed_ = false;
  bool closing_after_flush_ = false;
  std::shared_ptr<bool> alive_;
};

// The first frame in each direction.
Message MakeHello(const std::string& role, const std::string& name = "", uint64_t generation = 0,
                  uint64_t concurrency = 0);
// Checks protocol name, version and (if given) role.
util::Status CheckHello(const Message& m, const std::string& expected_role);

// Connects to a Unix stream socket (non-blocking after connect). Returns the fd.
util::Result<int> ConnectUnix(const std::string& path);
// Creates a listening Unix socket with the given mode (unlinks a stale one first).
util::Result<int> ListenUnix(const std::string& path, int mode);

}  // namespace mailrelay::ipc
