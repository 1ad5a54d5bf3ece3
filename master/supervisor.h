// mailrelayd's supervisor: owns the listening sockets and the process table. Starts qmgr,
// then (once qmgr is ready) smtpd and one agent per backend [route] uses; restarts what
// dies, with a growing delay for processes that die young and a hard limit of
// restart_per_hour per process; mails failure reports through qmgr; reloads on SIGHUP by
// starting a new generation and retiring the old one; drains in order on SIGTERM
// (smtpd, then agents, then qmgr). Master's single loop.
#pragma once

#include <event2/event.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/net/listener.h"
#include "common/proc/systemd_notify.h"
#include "master/options.h"
#include "master/process.h"

namespace mailrelay::master {

class Supervisor {
 public:
  friend struct Process;
  Supervisor(event_base* base, Options options, config::Config cfg);
  ~Supervisor();
  util::Status Start();
  int exit_code() const { return exit_code_; }

 private:
  struct Listener {
    config::HostPort where;
    std::string kind;  // plain | tls | metrics
    net::BoundListener bound;
  };
  struct Slot {  // restart bookkeeping per program name
    std::deque<int64_t> restarts;  // times, last hour
    int quick_deaths = 0;
    std::deque<std::string> last_lines;
    event* restart_ev = nullptr;
  };
  struct PendingReport {
    uint64_t id;
    std::string data;
  };

  util::Status PrepareDirectories();
  util::Status BindListeners(const config::Config& cfg, std::vector<Listener>* out);
  std::vector<PassedFd> FdsFor(Role role) const;
  std::vector<std::string> AgentNames(const config::Config& cfg) const;
  util::Status StartProcess(const std::string& name, Role role);
  void OnChannelMessage(Process* p, ipc::Message& m);
  void OnReady(Process* p);
  void NotifyReadyOnce();

 public:
  void OnLogReadable(Process* p);

 private:
  void OnSigchld();
  void OnExited(std::unique_ptr<Process> p, int status);
  void ScheduleRestart(const std::string& name, Role role, int64_t delay_s);
  void QueueReport(const std::string& name, const std::string& how, int restarts);
  void FlushReports();
  void SendProcessTable();
  void Reload(std::function<void(bool, const std::string&)> done);
  void BeginShutdown(const std::string& why, int code);
  void ShutdownStep();
  // Stops everything; exit code 1, or proc::kExitDoNotRestart (78) when a restart by systemd
  // cannot help (the unit's RestartPreventExitStatus).
  void Fatal(const std::string& why, int code = 1);
  Process* Current(const std::string& name);
  Process* Qmgr();
  void Signal(Process* p, int sig);

  static void OnSignal(evutil_socket_t sig, short, void* arg);
  static void OnLogEvent(evutil_socket_t, short, void* arg);

  event_base* base_;
  Options options_;
  config::Config cfg_;
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<Process>> procs_;
  std::map<std::string, Slot> slots_;
  std::vector<event*> signal_events_;
  event* shutdown_timer_ = nullptr;
  uint64_t generation_ = 1;
  bool started_workers_ = false;
  proc::SystemdNotifier systemd_ = proc::SystemdNotifier::FromEnvironment();
  bool told_systemd_ready_ = false;
  bool shutting_down_ = false;
  int exit_code_ = 0;
  int64_t shutdown_deadline_ = 0;
  std::vector<PendingReport> reports_;
  uint64_t next_report_ = 1;
  std::vector<std::function<void(bool, const std::string&)>> pending_reloads_;
};

}  // namespace mailrelay::master
