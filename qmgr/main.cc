// qmgr: the queue manager. The only process that opens the spool; it commits every message
// before smtpd may say 250, hands deliveries to the agents, applies retries, expiry and
// bounces, and answers relayctl. See docs/architecture.md.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/log/log.h"
#include "common/proc/child.h"
#include "qmgr/commit.h"
#include "qmgr/control.h"
#include "qmgr/dispatcher.h"
#include "qmgr/injector.h"
#include "qmgr/master_link.h"
#include "qmgr/metrics.h"
#include "qmgr/queue.h"
#include "qmgr/sockets.h"
#include "qmgr/spool.h"

using namespace mailrelay;

namespace {

// Two qmgrs on one spool would be a disaster; a restarted mailrelayd may start us while the
// previous qmgr is still finishing, so wait a little for the lock.
bool LockSpool(const std::string& dir) {
  int fd = open((dir + "/qmgr.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  for (int i = 0; i < 300; ++i) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return true;  // fd stays open for our lifetime
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

int Fatal(const std::string& msg, int code = 1) {
  log::Fatal().Text(msg);
  sleep(1);  // a crash loop must not spin
  return code;
}

void OnTimer(evutil_socket_t, short, void* arg) { (*static_cast<std::function<void()>*>(arg))(); }

}  // namespace

int main() {
  auto started = proc::Child::Start("qmgr");
  if (!started.ok()) return Fatal(started.status().message());
  std::unique_ptr<proc::Child> child = std::move(started).value();
  const config::Config& cfg = child->config();

  auto sockets = qmgr::CreateSockets(cfg.server.run_dir, cfg.server.privilege_separation);
  if (!sockets.ok()) return Fatal(sockets.status().message());
  util::Status st = child->DropPrivileges();
  if (!st.ok()) return Fatal(st.message(), proc::kExitDoNotRestart);
  // queue.db, its -wal and -shm hold every message: readable by qmgr's user only, whatever
  // umask the operator's service manager handed down.
  umask(0077);
  if (!LockSpool(cfg.server.spool_dir)) {
    return Fatal("another qmgr holds " + cfg.server.spool_dir + "/qmgr.lock");
  }
  auto opened = qmgr::Spool::Open(cfg.server.spool_dir);
  if (!opened.ok()) {
    bool permanent = opened.status().code() == util::Code::kDataLoss ||
                     opened.status().code() == util::Code::kFailedPrecondition;
    return Fatal(opened.status().message(), permanent ? proc::kExitDoNotRestart : 1);
  }
  std::unique_ptr<qmgr::Spool> spool = std::move(opened).value();
  st = spool->Recover();
  if (!st.ok()) return Fatal("spool recovery: " + st.message());
  st = spool->StartCheckpointer();
  if (!st.ok()) return Fatal(st.message());

  event_base* base = child->base();
  qmgr::CommitTracker commits(base, spool.get());
  qmgr::Queue queue(spool.get(), &commits, cfg, util::Clock::System());
  st = queue.Load(/*grace=*/10);
  if (!st.ok()) return Fatal("loading the queue: " + st.message(), proc::kExitDoNotRestart);

  qmgr::Injector injector(base, &queue, spool.get(), &commits, cfg);
  qmgr::Dispatcher dispatcher(base, &queue, spool.get(), &commits, cfg);
  qmgr::MasterLink master(child.get(), &queue);
  qmgr::Control control(base, &queue, spool.get(), &dispatcher, &injector, &master, &commits, cfg);
  qmgr::Metrics metrics(base, &queue, spool.get(), &dispatcher, &injector, &master, &commits, cfg);
  queue.on_work = [&] { dispatcher.Kick(); };
  queue.on_delivered_latency = [&](const std::string& backend, double s) { metrics.ObserveDelivery(backend, s); };
  commits.SetAfterCommit([&] {
    injector.UpdateStatus();
    dispatcher.Kick();
  });
  commits.SetFailureHandler([&](const util::Status& why) {
    // Memory may hold changes the disk does not: the disk is the truth.
    util::Status reload = queue.ReloadFromSpool();
    if (!reload.ok()) {
      log::Fatal().Text("cannot resynchronise with the spool after a failed commit (" + why.message() +
                        "): " + reload.message());
      child->Stop(1);
    }
  });
  commits.SetSyncFailureHandler([&](const util::Status&) {
    // What was committed may not be on disk: acknowledge nothing more, restart, and let
    // SQLite's WAL recovery decide what survived.
    child->Stop(1);
  });
  master.on_agent_exit = [&](uint64_t pid, int sig) { dispatcher.OnAgentExit(pid, sig); };
  master.on_config = [&](const std::string& json) {
    auto next = config::LoadFromJson(json);
    if (!next.ok()) {
      log::Error().Text("reloaded configuration refused: " + next.status().message());
      return;
    }
    log::SetLevel(next->server.log_level);
    log::SetFormat(next->server.log_format);
    queue.Reconfigure(*next);
    dispatcher.Reconfigure(*next);
    injector.Reconfigure(*next);
    control.Reconfigure(*next);
    log::Info().Text("configuration reloaded");
  };
  child->SetMasterHandler([&](ipc::Message& m) { master.OnMessage(m); });

  if (!(st = injector.Listen(sockets->inject)).ok() || !(st = dispatcher.Listen(sockets->deliver)).ok() ||
      !(st = control.Listen(sockets->control)).ok()) {
    return Fatal(st.message());
  }

  for (const auto& f : proc::InheritedFds()) {
    if (f.kind != "metrics") continue;
    if (!(st = metrics.Listen(f.fd)).ok()) return Fatal(st.message());
    log::Info().Text("serving /metrics and /healthz on " + f.address);
  }

  // The janitor: cheap checks every second, expiry and send-log pruning every minute.
  int ticks = 0;
  std::function<void()> janitor = [&] {
    injector.UpdateStatus();
    dispatcher.CheckDeadlines();
    if (++ticks % 60 == 1) queue.Sweep();
    dispatcher.Kick();
  };
  event* tick = event_new(base, -1, EV_PERSIST, &OnTimer, &janitor);
  timeval one{1, 0};
  event_add(tick, &one);

  child->OnShutdown([&](const std::string&) {
    commits.CommitAndWait();
    child->Stop(0);
  });
  log::Info().Kv("spool", spool->path()).Kv("messages", static_cast<int64_t>(queue.size())).Text("qmgr ready");
  child->NotifyReady();
  dispatcher.Kick();
  int rc = child->Run();
  commits.CommitAndWait();
  event_free(tick);
  return rc;
}
