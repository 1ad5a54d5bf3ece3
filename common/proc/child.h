// What every child of mailrelayd shares: it reads the effective configuration from its
// master channel (fd 3) before anything else, drops privileges when told to, reports ready,
// and shuts down gracefully on SIGTERM or when the master goes away (so a killed master
// never leaves orphans holding the ports and the spool). One event loop per process.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/ipc/channel.h"
#include "common/util/status.h"

namespace mailrelay::proc {

inline constexpr int kMasterFd = 3;      // socketpair to mailrelayd
inline constexpr int kFirstExtraFd = 4;  // listeners handed down by mailrelayd
inline constexpr int kPriorities = 3;
inline constexpr int kIdlePriority = 2;  // runs only when nothing else is active
// Exit status meaning "restarting will not help" (corrupt spool, unusable config):
// mailrelayd stops the whole system with a fatal log line instead of restarting.
inline constexpr int kExitDoNotRestart = 78;

class Child {
 public:
  // Reads the config frame (waits up to 10 s) and initialises logging as `prog`.
  static util::Result<std::unique_ptr<Child>> Start(const std::string& prog);
  ~Child();

  const config::Config& config() const { return config_; }
  const std::string& prog() const { return prog_; }
  event_base* base() const { return base_; }

  // Becomes the program's system user (if root and privilege_separation), then hardens.
  util::Status DropPrivileges();

  // Messages from the master other than config (e.g. qmgr's process table).
  void SetMasterHandler(std::function<void(ipc::Message&)> fn) { on_master_ = std::move(fn); }
  void SendToMaster(const ipc::Message& m);
  void NotifyReady(const std::string& text = "");

  // Called once, on SIGTERM/SIGINT or when the master's channel closes. The handler should
  // stop taking new work, finish what is in flight and call Stop().
  void OnShutdown(std::function<void(const std::string& why)> fn) { on_shutdown_ = std::move(fn); }
  bool shutting_down() const { return shutting_down_; }

  int Run();  // runs the loop until Stop(); returns the exit code
  void Stop(int exit_code);

 private:
  Child(std::string prog, config::Config config, event_base* base);
  void BeginShutdown(const std::string& why);

  std::string prog_;
  config::Config config_;
  event_base* base_;
  std::unique_ptr<ipc::Channel> master_;
  std::vector<event*> signals_;
  std::function<void(ipc::Message&)> on_master_;
  std::function<void(const std::string&)> on_shutdown_;
  bool shutting_down_ = false;
  int exit_code_ = 0;
};

// File descriptors mailrelayd passed beyond fd 3, described by MAILRELAY_FDS
// ("4:plain:127.0.0.1:25,5:tls:0.0.0.0:465").
struct InheritedFd {
  int fd;
  std::string kind;
  std::string address;
};
std::vector<InheritedFd> InheritedFds();

}  // namespace mailrelay::proc
