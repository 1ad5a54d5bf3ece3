#include "common/proc/child.h"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <cstdlib>

#include "common/log/log.h"
#include "common/proc/privileges.h"
#include "common/util/strings.h"

namespace mailrelay::proc {

namespace {

// Blocking read of the first frame on the master channel, before the event loop exists.
util::Result<ipc::Message> ReadFirstFrame(int fd, int timeout_ms) {
  std::string buf;
  char tmp[65536];
  while (true) {
    ipc::Message m;
    auto used = ipc::DecodeFrame(buf, 64 << 20, &m);
    if (!used.ok()) return used.status();
    if (*used > 0) {
      if (*used != buf.size()) return util::Internal("master sent more than the config frame");
      return m;
    }
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, timeout_ms);
    if (rc == 0) return util::Unavailable("no configuration from mailrelayd within 10 s");
    if (rc < 0) {
      if (errno == EINTR) continue;
      return util::ErrnoStatus("poll", errno);
    }
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return util::ErrnoStatus("read master channel", errno);
    }
    if (r == 0) return util::Unavailable("mailrelayd closed the channel before sending the configuration");
    buf.append(tmp, static_cast<size_t>(r));
  }
}

void OnSignal(evutil_socket_t sig, short, void* arg) {
  auto* fn = static_cast<std::function<void(int)>*>(arg);
  (*fn)(static_cast<int>(sig));
}

}  // namespace

util::Result<std::unique_ptr<Child>> Child::Start(const std::string& prog) {
  signal(SIGPIPE, SIG_IGN);
  RaiseFdLimit();
  log::Init(prog, log::Format::kText, log::Level::kInfo);
  struct stat st;
  if (fstat(kMasterFd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return util::FailedPrecondition(prog + " is started by mailrelayd; run mailrelayd instead");
  }
  MR_ASSIGN_OR_RETURN(ipc::Message first, ReadFirstFrame(kMasterFd, 10000));
  if (first.type() != ipc::Type::kConfig) {
    return util::InvalidArgument(std::string("expected the configuration first, got ") + ipc::TypeName(first.type()));
  }
  MR_ASSIGN_OR_RETURN(config::Config cfg, config::LoadFromJson(std::string(first.Str(ipc::Tag::kJson))));
  log::Init(prog, cfg.server.log_format, cfg.server.log_level);
  event_base* base = event_base_new();
  if (!base) return util::Internal("event_base_new failed");
  // Three priorities: 0 urgent, 1 the default for every event, 2 "when nothing else is
  // ready" (qmgr's group commit runs there, after all readable frames were handled).
  event_base_priority_init(base, kPriorities);
  return std::unique_ptr<Child>(new Child(prog, std::move(cfg), base));
}

Child::Child(std::string prog, config::Config config, event_base* base)
    : prog_(std::move(prog)), config_(std::move(config)), base_(base) {
  master_ = std::make_unique<ipc::Channel>(base_, kMasterFd, 64 << 20);
  master_->Start(
      [this](ipc::Message& m) {
        if (on_master_) on_master_(m);
      },
      [this](const std::string& why) { BeginShutdown("mailrelayd went away (" + why + ")"); });
  static std::function<void(int)> handler;
  handler = [this](int sig) { BeginShutdown(std::string("signal ") + strsignal(sig)); };
  for (int sig : {SIGTERM, SIGINT}) {
    event* ev = evsignal_new(base_, sig, &OnSignal, &handler);
    event_add(ev, nullptr);
    signals_.push_back(ev);
  }
  // mailrelayd handles SIGHUP; a stray one must not kill us.
  signal(SIGHUP, SIG_IGN);
}

Child::~Child() {
  for (event* ev : signals_) event_free(ev);
  master_.reset();
  event_base_free(base_);
}

util::Status Child::DropPrivileges() {
  pid_t parent = getppid();
  if (config_.server.privilege_separation && IsRoot()) {
    MR_RETURN_IF_ERROR(DropTo(UserFor(prog_)));
  } else if (IsRoot()) {
    log::Warning().Text("privilege_separation = no: running as root");
  }
  MR_RETURN_IF_ERROR(Harden());
  // Changing credentials clears the parent-death signal; set it again and close the race.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return util::Unavailable("mailrelayd exited during start-up");
  return util::Status::Ok();
}

void Child::SendToMaster(const ipc::Message& m) {
  if (master_ && !master_->closed()) (void)master_->Send(m);
}

void Child::NotifyReady(const std::string& text) {
  ipc::Message m(ipc::Type::kReady);
  if (!text.empty()) m.Add(ipc::Tag::kText, text);
  SendToMaster(m);
}

void Child::BeginShutdown(const std::string& why) {
  if (shutting_down_) return;
  shutting_down_ = true;
  log::Info().Text("shutting down: " + why);
  if (on_shutdown_) {
    on_shutdown_(why);
  } else {
    Stop(0);
  }
}

int Child::Run() {
  event_base_dispatch(base_);
  return exit_code_;
}

void Child::Stop(int exit_code) {
  exit_code_ = exit_code;
  event_base_loopexit(base_, nullptr);
}

std::vector<InheritedFd> InheritedFds() {
  std::vector<InheritedFd> out;
  const char* env = std::getenv("MAILRELAY_FDS");
  if (!env) return out;
  for (const auto& item : util::Split(env, ',')) {
    size_t c1 = item.find(':');
    if (c1 == std::string::npos) continue;
    size_t c2 = item.find(':', c1 + 1);
    auto fd = util::ParseUint(item.substr(0, c1));
    if (!fd) continue;
    InheritedFd f;
    f.fd = static_cast<int>(*fd);
    f.kind = item.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1);
    f.address = c2 == std::string::npos ? "" : item.substr(c2 + 1);
    out.push_back(f);
  }
  return out;
}

}  // namespace mailrelay::proc
