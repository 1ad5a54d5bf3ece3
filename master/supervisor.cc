#include "master/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log/log.h"
#include "common/proc/child.h"
#include "common/proc/privileges.h"
#include "common/util/clock.h"
#include "common/util/file.h"
#include "master/report.h"

namespace mailrelay::master {

namespace {

int64_t NowUs() { return util::Clock::System().NowMicros(); }
int64_t NowS() { return util::Clock::System().NowSeconds(); }
constexpr int64_t kYoungSeconds = 10;  // dying sooner than this counts as a crash loop
constexpr size_t kLastLines = 30;

}  // namespace

Supervisor::Supervisor(event_base* base, Options options, config::Config cfg)
    : base_(base), options_(std::move(options)), cfg_(std::move(cfg)) {}

Supervisor::~Supervisor() {
  for (event* ev : signal_events_) event_free(ev);
  if (shutdown_timer_) event_free(shutdown_timer_);
  for (auto& [name, slot] : slots_) {
    if (slot.restart_ev) event_free(slot.restart_ev);
  }
  for (auto& p : procs_) {
    if (p->log_ev) event_free(p->log_ev);
    if (p->log_fd >= 0) close(p->log_fd);
  }
  for (auto& l : listeners_) close(l.bound.fd);
}

namespace {

// Makes `path` belong to `owner` with `mode`, with no more than the unit's capabilities:
// CAP_CHOWN but not CAP_FOWNER, so root may not chmod what another user owns (the spool
// the package created for mailrelay). Takes it back first when its mode must change.
util::Status GiveTo(const std::string& path, const proc::Account& owner, mode_t mode) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return util::ErrnoStatus("stat " + path, errno);
  if ((st.st_mode & 07777) != mode) {
    if (st.st_uid != 0 && chown(path.c_str(), 0, static_cast<gid_t>(-1)) != 0) {
      return util::ErrnoStatus("chown " + path, errno);
    }
    if (chmod(path.c_str(), mode) != 0) return util::ErrnoStatus("chmod " + path, errno);
  }
  if ((st.st_uid != owner.uid || st.st_gid != owner.gid || (st.st_mode & 07777) != mode) &&
      chown(path.c_str(), owner.uid, owner.gid) != 0) {
    return util::ErrnoStatus("chown " + path, errno);
  }
  return util::Status::Ok();
}

}  // namespace

util::Status Supervisor::PrepareDirectories() {
  const auto& s = cfg_.server;
  MR_RETURN_IF_ERROR(util::MakeDirs(s.run_dir, 0755));
  MR_RETURN_IF_ERROR(util::MakeDirs(s.spool_dir, 0750));
  bool privsep = s.privilege_separation && proc::IsRoot();
  if (privsep) {
    MR_ASSIGN_OR_RETURN(proc::Account q, proc::LookupUser(proc::kQueueUser));
    MR_ASSIGN_OR_RETURN(proc::Account sm, proc::LookupUser(proc::kSmtpdUser));
    MR_ASSIGN_OR_RETURN(proc::Account d, proc::LookupUser(proc::kDeliverUser));
    (void)sm;
    auto used = cfg_.UsedBackends();
    bool file_backend = std::find(used.begin(), used.end(), config::Backend::kFile) != used.end();
    if (file_backend) MR_RETURN_IF_ERROR(util::MakeDirs(cfg_.file.dir, 0750));
    // The file backend's default outbox lives inside the spool, which belongs to qmgr's
    // user: then the delivery user must be able to pass through the spool directory
    // (0751, no listing). The spool's files are 0600 either way (qmgr's umask, and below),
    // so passing through reaches nothing else.
    bool outbox_inside = file_backend && util::IsInside(cfg_.file.dir, s.spool_dir);
    MR_RETURN_IF_ERROR(GiveTo(s.spool_dir, q, outbox_inside ? 0751 : 0750));
    // The spool's files too: a spool first used without privilege separation stays usable.
    for (const char* f : {"/queue.db", "/queue.db-wal", "/queue.db-shm", "/qmgr.lock"}) {
      std::string path = s.spool_dir + f;
      if (!util::FileExists(path)) continue;
      MR_RETURN_IF_ERROR(GiveTo(path, q, 0600));
    }
    if (file_backend && chown(cfg_.file.dir.c_str(), d.uid, d.gid) != 0) {
      return util::ErrnoStatus("chown " + cfg_.file.dir, errno);
    }
  } else {
    auto used = cfg_.UsedBackends();
    if (std::find(used.begin(), used.end(), config::Backend::kFile) != used.end()) {
      MR_RETURN_IF_ERROR(util::MakeDirs(cfg_.file.dir, 0750));
    }
  }
  // One mailrelayd per run_dir: the lock lives as long as we do.
  std::string pidfile = s.run_dir + "/mailrelayd.pid";
  int fd = open(pidfile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return util::ErrnoStatus("open " + pidfile, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return util::FailedPrecondition("another mailrelayd is running with run_dir " + s.run_dir +
                                    (n > 0 ? " (pid " + std::string(buf, static_cast<size_t>(n)) + ")" : ""));
  }
  std::string pid = std::to_string(getpid());
  if (ftruncate(fd, 0) != 0 || write(fd, pid.data(), pid.size()) < 0) {
    return util::ErrnoStatus("write " + pidfile, errno);
  }
  return util::Status::Ok();
}

util::Status Supervisor::BindListeners(const config::Config& cfg, std::vector<Listener>* out) {
  std::vector<std::pair<config::HostPort, std::string>> want;
  for (const auto& hp : cfg.smtpd.listen) want.push_back({hp, "plain"});
  for (const auto& hp : cfg.smtpd.listen_tls) want.push_back({hp, "tls"});
  if (cfg.server.metrics_listen) want.push_back({*cfg.server.metrics_listen, "metrics"});
  for (const auto& [hp, kind] : want) {
    bool reused = false;
    for (const auto& l : listeners_) {
      if (l.where == hp && l.kind == kind && hp.port != 0) {
        Listener copy = l;
        copy.bound.fd = dup(l.bound.fd);
        out->push_back(copy);
        reused = true;
        break;
      }
    }
    if (reused) continue;
    // A restarted mailrelayd may find its predecessor's smtpd still closing the port.
    auto bound = net::BindTcp(hp, 1024, listeners_.empty() ? 15 : 0);
    if (!bound.ok()) {
      for (auto& l : *out) close(l.bound.fd);
      out->clear();
      return bound.status();
    }
    out->push_back(Listener{hp, kind, *bound});
  }
  return util::Status::Ok();
}

std::vector<PassedFd> Supervisor::FdsFor(Role role) const {
  std::vector<PassedFd> out;
  for (const auto& l : listeners_) {
    bool smtp = l.kind == "plain" || l.kind == "tls";
    if ((role == Role::kSmtpd && smtp) || (role == Role::kQmgr && l.kind == "metrics")) {
      out.push_back({l.bound.fd, l.kind, l.bound.address});
    }
  }
  return out;
}

std::vector<std::string> Supervisor::AgentNames(const config::Config& cfg) const {
  std::vector<std::string> out;
  for (config::Backend b : cfg.UsedBackends()) out.push_back(std::string("deliver-") + config::BackendName(b));
  return out;
}

util::Status Supervisor::Start() {
  MR_RETURN_IF_ERROR(PrepareDirectories());
  MR_RETURN_IF_ERROR(BindListeners(cfg_, &listeners_));
  for (const auto& l : listeners_) {
    log::Info().Kv("kind", l.kind).Text("listening on " + l.bound.address);
  }
  if (!proc::IsRoot()) {
    log::Info().Kv("uid", static_cast<int64_t>(getuid())).Text("not started as root: every process runs as this user");
  } else if (!cfg_.server.privilege_separation) {
    log::Warning().Text("privilege_separation = no: every process runs as root (development only)");
  }
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) {
    event* ev = evsignal_new(base_, sig, &Supervisor::OnSignal, this);
    event_add(ev, nullptr);
    signal_events_.push_back(ev);
  }
  signal(SIGPIPE, SIG_IGN);
  shutdown_timer_ = event_new(base_, -1, EV_PERSIST, [](evutil_socket_t, short, void* arg) {
    static_cast<Supervisor*>(arg)->ShutdownStep();
  }, this);
  return StartProcess("qmgr", Role::kQmgr);
}

Process* Supervisor::Current(const std::string& name) {
  Process* best = nullptr;
  for (auto& p : procs_) {
    if (p->name == name && !p->retiring && !p->stopping && (!best || p->generation > best->generation)) best = p.get();
  }
  return best;
}

Process* Supervisor::Qmgr() { return Current("qmgr"); }

util::Status Supervisor::StartProcess(const std::string& name, Role role) {
  int chan = -1, logfd = -1;
  auto pid = Spawn(name, FdsFor(role), generation_, &chan, &logfd);
  if (!pid.ok()) return pid.status();
  auto p = std::make_unique<Process>();
  p->owner = this;
  p->name = name;
  p->role = role;
  p->generation = generation_;
  p->pid = *pid;
  p->started_us = NowUs();
  p->log_fd = logfd;
  Process* raw = p.get();
  p->channel = std::make_unique<ipc::Channel>(base_, chan, 1 << 20);
  p->channel->Start([this, raw](ipc::Message& m) { OnChannelMessage(raw, m); }, [](const std::string&) {});
  ipc::Message config(ipc::Type::kConfig);
  config.Add(ipc::Tag::kJson, cfg_.ToJson());
  (void)p->channel->Send(config);
  p->log_ev = event_new(base_, logfd, EV_READ | EV_PERSIST, &Supervisor::OnLogEvent, raw);
  event_add(p->log_ev, nullptr);
  procs_.push_back(std::move(p));
  log::Info().Kv("pid", static_cast<int64_t>(*pid)).Kv("generation", static_cast<int64_t>(generation_))
      .Text("started " + name);
  SendProcessTable();
  return util::Status::Ok();
}

void Supervisor::OnLogEvent(evutil_socket_t, short, void* arg) {
  auto* p = static_cast<Process*>(arg);
  p->owner->OnLogReadable(p);
}

void Supervisor::OnLogReadable(Process* p) {
  char buf[16384];
  while (true) {
    ssize_t n = read(p->log_fd, buf, sizeof buf);
    if (n > 0) {
      p->log_partial.append(buf, static_cast<size_t>(n));
      size_t end = p->log_partial.rfind('\n');
      if (end != std::string::npos) {
        // Forward each complete line on its own: the log writer cuts one write at 4000 bytes
        // (to stay one atomic pipe write), so a batch forwarded whole would lose lines.
        auto& last = slots_[p->name].last_lines;
        size_t start = 0;
        while (start <= end) {
          size_t nl = p->log_partial.find('\n', start);
          std::string_view line = std::string_view(p->log_partial).substr(start, nl - start);
          log::WriteRaw(line);
          last.emplace_back(line);
          if (last.size() > kLastLines) last.pop_front();
          start = nl + 1;
        }
        p->log_partial.erase(0, end + 1);
      }
      if (p->log_partial.size() > 64 * 1024) {  // a child writing without newlines
        log::WriteRaw(p->log_partial);
        p->log_partial.clear();
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    // EOF: the child closed its stderr (it is exiting).
    if (!p->log_partial.empty()) {
      log::WriteRaw(p->log_partial);
      slots_[p->name].last_lines.push_back(p->log_partial);
      p->log_partial.clear();
    }
    if (p->log_ev) {
      event_free(p->log_ev);
      p->log_ev = nullptr;
    }
    close(p->log_fd);
    p->log_fd = -1;
    return;
  }
}

void Supervisor::OnSignal(evutil_socket_t sig, short, void* arg) {
  auto* self = static_cast<Supervisor*>(arg);
  switch (sig) {
    case SIGCHLD:
      self->OnSigchld();
      break;
    case SIGTERM:
    case SIGINT:
      self->BeginShutdown(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"), 0);
      break;
    case SIGHUP:
      self->Reload([](bool ok, const std::string& text) {
        if (ok) log::Info().Text(text);
      });
      break;
  }
}

void Supervisor::OnChannelMessage(Process* p, ipc::Message& m) {
  switch (m.type()) {
    case ipc::Type::kReady:
      OnReady(p);
      return;
    case ipc::Type::kReportQueued: {
      uint64_t id = m.U64(ipc::Tag::kReportId);
      reports_.erase(std::remove_if(reports_.begin(), reports_.end(), [id](const PendingReport& r) { return r.id == id; }),
                     reports_.end());
      return;
    }
    case ipc::Type::kReloadRequest: {
      pid_t pid = p->pid;
      Reload([this, pid](bool ok, const std::string& text) {
        for (auto& q : procs_) {
          if (q->pid != pid) continue;
          ipc::Message r(ipc::Type::kReloadResult);
          r.Add(ipc::Tag::kOk, static_cast<uint64_t>(ok)).Add(ipc::Tag::kText, text);
          (void)q->channel->Send(r);
        }
      });
      return;
    }
    default:
      log::Warning().Text(std::string("unexpected ") + ipc::TypeName(m.type()) + " from " + p->name);
  }
}

void Supervisor::OnReady(Process* p) {
  p->ready = true;
  log::Info().Kv("pid", static_cast<int64_t>(p->pid)).Text(p->name + " ready");
  // A new generation is serving: the one it replaces finishes its work and exits.
  for (auto& q : procs_) {
    if (q.get() != p && q->name == p->name && q->generation < p->generation && !q->retiring) {
      q->retiring = true;
      Signal(q.get(), SIGTERM);
    }
  }
  if (p->role == Role::kQmgr && !shutting_down_) {
    started_workers_ = true;
    // smtpd gets its listeners only once the queue can take mail.
    std::vector<std::pair<std::string, Role>> want;
    for (const auto& name : AgentNames(cfg_)) want.push_back({name, Role::kAgent});
    want.push_back({"smtpd", Role::kSmtpd});
    for (const auto& [name, role] : want) {
      Slot& slot = slots_[name];
      bool pending = slot.restart_ev && event_pending(slot.restart_ev, EV_TIMEOUT, nullptr);
      if (!Current(name) && !pending) {
        util::Status st = StartProcess(name, role);
        if (!st.ok()) Fatal("cannot start " + name + ": " + st.message());
      }
    }
    FlushReports();
  }
  SendProcessTable();
  NotifyReadyOnce();
}

// systemd's `start` returns when mailrelayd says READY=1: only once qmgr, every agent and
// smtpd are up, so a script that sends mail right after `systemctl start` is not refused.
void Supervisor::NotifyReadyOnce() {
  if (told_systemd_ready_ || shutting_down_ || !systemd_.enabled()) return;
  std::vector<std::string> names = AgentNames(cfg_);
  names.push_back("qmgr");
  names.push_back("smtpd");
  for (const auto& name : names) {
    Process* p = Current(name);
    if (!p || !p->ready) return;
  }
  told_systemd_ready_ = true;
  systemd_.Notify("READY=1\nMAINPID=" + std::to_string(getpid()) + "\nSTATUS=accepting mail");
}

void Supervisor::Signal(Process* p, int sig) {
  if (p->pid > 0) kill(p->pid, sig);
  if (sig == SIGTERM) p->stopping = true;
}

void Supervisor::OnSigchld() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    for (size_t i = 0; i < procs_.size(); ++i) {
      if (procs_[i]->pid != pid) continue;
      std::unique_ptr<Process> p = std::move(procs_[i]);
      procs_.erase(procs_.begin() + static_cast<long>(i));
      OnExited(std::move(p), status);
      break;
    }
  }
}

void Supervisor::OnExited(std::unique_ptr<Process> p, int status) {
  if (p->log_fd >= 0) OnLogReadable(p.get());  // what it said last
  if (p->log_ev) event_free(p->log_ev);
  p->log_ev = nullptr;
  if (p->log_fd >= 0) close(p->log_fd);
  p->log_fd = -1;
  std::string how = DescribeExit(status);
  if (Process* q = Qmgr(); q && q->ready && p->role == Role::kAgent) {
    // qmgr decides whether the jobs aboard an agent that crashed were the cause.
    ipc::Message m(ipc::Type::kProcessExit);
    m.Add(ipc::Tag::kName, p->name).Add(ipc::Tag::kPid, static_cast<uint64_t>(p->pid));
    m.Add(ipc::Tag::kCode, static_cast<uint64_t>(WIFSIGNALED(status) ? WTERMSIG(status) : 0)).Add(ipc::Tag::kText, how);
    (void)q->channel->Send(m);
  }
  if (shutting_down_ || p->retiring || p->stopping) {
    log::Info().Kv("pid", static_cast<int64_t>(p->pid)).Text(p->name + " stopped (" + how + ")");
    SendProcessTable();
    if (shutting_down_) ShutdownStep();
    return;
  }
  bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == proc::kExitDoNotRestart) {
    Fatal(p->name + " cannot run (" + how + "; its last log line says why); restarting it would not help",
          proc::kExitDoNotRestart);
    return;
  }
  Slot& slot = slots_[p->name];
  int64_t now = NowS();
  while (!slot.restarts.empty() && slot.restarts.front() <= now - 3600) slot.restarts.pop_front();
  slot.restarts.push_back(now);
  int count = static_cast<int>(slot.restarts.size());
  log::Error().Kv("pid", static_cast<int64_t>(p->pid)).Kv("restarts_last_hour", count)
      .Text(p->name + (clean ? " exited unexpectedly" : " died") + " (" + how + ")");
  if (count > cfg_.server.restart_per_hour) {
    Fatal(p->name + " needed " + std::to_string(count) + " restarts within an hour (restart_per_hour = " +
          std::to_string(cfg_.server.restart_per_hour) + "); stopping mailrelay. Accepted mail is safe in " +
          cfg_.server.spool_dir);
    return;
  }
  bool young = !p->ready || now - p->started_us / 1000000 < kYoungSeconds;
  slot.quick_deaths = young ? slot.quick_deaths + 1 : 0;
  int64_t delay = young ? std::min<int64_t>(60, int64_t{1} << std::min(slot.quick_deaths - 1, 6)) : 0;
  ScheduleRestart(p->name, p->role, delay);
  QueueReport(p->name, how, count);
  SendProcessTable();
}

void Supervisor::ScheduleRestart(const std::string& name, Role role, int64_t delay_s) {
  Slot& slot = slots_[name];
  if (delay_s > 0) log::Info().Text("restarting " + name + " in " + std::to_string(delay_s) + " s");
  struct Ctx {
    Supervisor* self;
    std::string name;
    Role role;
  };
  auto* ctx = new Ctx{this, name, role};
  if (slot.restart_ev) event_free(slot.restart_ev);
  slot.restart_ev = evtimer_new(base_, [](evutil_socket_t, short, void* arg) {
    std::unique_ptr<Ctx> c(static_cast<Ctx*>(arg));
    Supervisor* self = c->self;
    if (self->shutting_down_ || self->Current(c->name)) return;
    // Workers wait for the queue: smtpd must never answer while nothing can store mail.
    if (c->role != Role::kQmgr) {
      Process* q = self->Qmgr();
      if (!q || !q->ready) return;  // OnReady(qmgr) starts it
    }
    util::Status st = self->StartProcess(c->name, c->role);
    if (!st.ok()) self->Fatal("cannot restart " + c->name + ": " + st.message());
  }, ctx);
  timeval tv{static_cast<time_t>(delay_s), 0};
  evtimer_add(slot.restart_ev, &tv);
}

void Supervisor::QueueReport(const std::string& name, const std::string& how, int restarts) {
  if (cfg_.server.restart_email.empty()) return;
  ReportInput in;
  in.hostname = cfg_.server.hostname;
  in.from = cfg_.server.postmaster;
  in.to = cfg_.server.restart_email;
  in.process = name;
  in.how = how;
  in.restarts_last_hour = restarts;
  in.restart_limit = cfg_.server.restart_per_hour;
  in.now = NowS();
  in.last_lines = slots_[name].last_lines;
  reports_.push_back({next_report_++, BuildReport(in)});
  FlushReports();
}

void Supervisor::FlushReports() {
  Process* q = Qmgr();
  if (!q || !q->ready) return;  // waits until qmgr is back
  for (const auto& r : reports_) {
    ipc::Message m(ipc::Type::kReport);
    m.Add(ipc::Tag::kReportId, r.id).Add(ipc::Tag::kSender, cfg_.server.postmaster)
        .Add(ipc::Tag::kRcpt, cfg_.server.restart_email).Add(ipc::Tag::kData, r.data);
    (void)q->channel->Send(m);
  }
}

void Supervisor::SendProcessTable() {
  Process* q = Qmgr();
  if (!q || !q->ready) return;
  std::vector<std::string> names = {"qmgr", "smtpd"};
  for (const auto& n : AgentNames(cfg_)) names.push_back(n);
  ipc::Message m(ipc::Type::kProcessTable);
  int64_t now = NowS();
  for (const auto& name : names) {
    Slot& slot = slots_[name];
    while (!slot.restarts.empty() && slot.restarts.front() <= now - 3600) slot.restarts.pop_front();
    Process* p = Current(name);
    ipc::Fields g;
    g.Add(ipc::Tag::kName, name).Add(ipc::Tag::kPid, static_cast<uint64_t>(p ? p->pid : 0));
    g.Add(ipc::Tag::kState, p ? (p->ready ? "running" : "starting") : (shutting_down_ ? "stopped" : "restarting"));
    g.Add(ipc::Tag::kRestarts, static_cast<uint64_t>(slot.restarts.size()));
    g.Add(ipc::Tag::kStarted, static_cast<uint64_t>(p ? p->started_us / 1000000 : 0));
    m.AddGroup(ipc::Tag::kProcess, g);
  }
  (void)q->channel->Send(m);
}

void Supervisor::Reload(std::function<void(bool, const std::string&)> reply) {
  if (shutting_down_) return reply(false, "shutting down");
  // `systemctl reload` waits between RELOADING=1 and READY=1, and shows the outcome.
  systemd_.Notify("RELOADING=1");
  auto done = [this, reply](bool ok, const std::string& text) {
    systemd_.Notify(std::string("READY=1\nSTATUS=") + (ok ? "accepting mail; reloaded" : "reload refused: " + text));
    reply(ok, text);
  };
  config::LoadOptions lo;
  lo.overrides = options_.overrides;
  auto loaded = config::Load(options_.config_path, lo);
  util::Status files = loaded.ok() ? config::CheckFiles(*loaded) : loaded.status();
  if (!loaded.ok() || !files.ok()) {
    std::string why = loaded.ok() ? files.message() : loaded.status().message();
    log::Error().Text("reload refused, the running configuration stays: " + why);
    return done(false, why);
  }
  config::Config next = std::move(loaded).value();
  if (next.server.run_dir != cfg_.server.run_dir || next.server.spool_dir != cfg_.server.spool_dir ||
      next.server.privilege_separation != cfg_.server.privilege_separation) {
    std::string why = "run_dir, spool_dir and privilege_separation change only with a restart of mailrelayd";
    log::Error().Text("reload refused: " + why);
    return done(false, why);
  }
  std::vector<Listener> fresh;
  util::Status st = BindListeners(next, &fresh);
  if (!st.ok()) {
    log::Error().Text("reload refused: " + st.message());
    return done(false, st.message());
  }
  std::vector<std::string> old_agents = AgentNames(cfg_);
  for (auto& l : listeners_) close(l.bound.fd);
  listeners_ = std::move(fresh);
  cfg_ = std::move(next);
  log::SetLevel(cfg_.server.log_level);
  log::SetFormat(cfg_.server.log_format);
  ++generation_;
  if (Process* q = Qmgr()) {
    ipc::Message m(ipc::Type::kConfig);
    m.Add(ipc::Tag::kJson, cfg_.ToJson());
    (void)q->channel->Send(m);
  }
  // New generations of smtpd and the agents; each old one retires once its successor is ready.
  std::vector<std::string> new_agents = AgentNames(cfg_);
  for (const auto& name : old_agents) {
    if (std::find(new_agents.begin(), new_agents.end(), name) == new_agents.end()) {
      if (Process* p = Current(name)) {
        p->retiring = true;
        Signal(p, SIGTERM);
      }
    }
  }
  Process* q = Qmgr();
  if (q && q->ready) {
    for (const auto& name : new_agents) {
      st = StartProcess(name, Role::kAgent);
      if (!st.ok()) log::Error().Text("reload: cannot start " + name + ": " + st.message());
    }
    st = StartProcess("smtpd", Role::kSmtpd);
    if (!st.ok()) log::Error().Text("reload: cannot start smtpd: " + st.message());
  }
  std::string text = "configuration reloaded from " + options_.config_path + " (generation " +
                      std::to_string(generation_) + ")";
  log::Info().Text(text);
  done(true, text);
}

void Supervisor::Fatal(const std::string& why, int code) {
  log::Fatal().Text(why);
  BeginShutdown(why, code);
}

void Supervisor::BeginShutdown(const std::string& why, int code) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = code;
  log::Info().Text("stopping: " + why);
  systemd_.Notify("STOPPING=1\nSTATUS=stopping: " + why);
  shutdown_deadline_ = NowS() + cfg_.server.shutdown_timeout + 5;
  for (auto& [name, slot] : slots_) {
    if (slot.restart_ev) event_del(slot.restart_ev);
  }
  // New connections are refused from now on; smtpd finishes the sessions it has.
  for (auto& l : listeners_) close(l.bound.fd);
  listeners_.clear();
  timeval one{1, 0};
  event_add(shutdown_timer_, &one);
  ShutdownStep();
}

void Supervisor::ShutdownStep() {
  if (!shutting_down_) return;
  bool force = NowS() >= shutdown_deadline_;
  auto any = [&](Role r) {
    for (auto& p : procs_) {
      if (p->role == r) return true;
    }
    return false;
  };
  auto stop = [&](Role r) {
    for (auto& p : procs_) {
      if (p->role != r) continue;
      if (force) {
        log::Warning().Kv("pid", static_cast<int64_t>(p->pid)).Text(p->name + " did not stop in time; killing it");
        kill(p->pid, SIGKILL);
      } else if (!p->stopping || p->retiring) {
        p->retiring = false;
        Signal(p.get(), SIGTERM);
      }
    }
  };
  // Order matters: smtpd and the agents need qmgr to commit what they finish.
  if (any(Role::kSmtpd)) {
    stop(Role::kSmtpd);
    if (!force) return;
  }
  if (any(Role::kAgent)) {
    stop(Role::kAgent);
    if (!force) return;
  }
  if (any(Role::kQmgr)) {
    stop(Role::kQmgr);
    return;
  }
  log::Info().Kv("exit", exit_code_).Text("mailrelayd stopped");
  event_base_loopexit(base_, nullptr);
}

}  // namespace mailrelay::master
