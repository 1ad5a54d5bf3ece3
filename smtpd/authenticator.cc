#include "smtpd/authenticator.h"

#include <sodium.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/auth/password.h"
#include "common/log/log.h"
#include "common/util/clock.h"

namespace mailrelay::smtpd {

namespace {
constexpr size_t kMaxQueued = 64;
constexpr int64_t kFailureMemory = 15 * 60;  // seconds a failure counts against an address
}  // namespace

Authenticator::Authenticator(event_base* base, const config::Config& cfg, int workers)
    : base_(base), path_(cfg.smtpd.users_file) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  wake_ev_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &Authenticator::OnWake, this);
  event_add(wake_ev_, nullptr);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Worker(); });
}

Authenticator::~Authenticator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  event_free(wake_ev_);
  close(wake_fd_);
}

util::Status Authenticator::LoadUsers() {
  if (path_.empty()) return util::Status::Ok();
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) {
    log::Warning().Text("users_file " + path_ + " does not exist yet: no SMTP AUTH users (relayctl user add)");
    std::lock_guard<std::mutex> lock(mu_);
    users_ = std::make_shared<auth::UsersFile>();
    return util::Status::Ok();
  }
  auto loaded = auth::UsersFile::Load(path_);
  if (!loaded.ok()) return loaded.status();
  std::lock_guard<std::mutex> lock(mu_);
  users_ = std::make_shared<auth::UsersFile>(std::move(loaded).value());
  users_mtime_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return util::Status::Ok();
}

bool Authenticator::has_users() const {
  std::lock_guard<std::mutex> lock(mu_);
  return users_ && users_->size() > 0;
}

void Authenticator::MaybeReload() {
  if (path_.empty()) return;
  struct stat st;  // a stat per AUTH costs microseconds; a stale user list costs a login
  if (stat(path_.c_str(), &st) != 0) return;
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (mtime == users_mtime_) return;
  auto loaded = auth::UsersFile::Load(path_);
  if (!loaded.ok()) {
    log::Warning().Text("users_file changed but cannot be re-read (" + loaded.status().message() +
                        "); keeping the previous users");
    users_mtime_ = mtime;
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  users_ = std::make_shared<auth::UsersFile>(std::move(loaded).value());
  users_mtime_ = mtime;
  log::Info().Kv("users", static_cast<int64_t>(users_->size())).Text("users_file reloaded");
}

void Authenticator::Verify(std::string user, std::string password, DoneFn done) {
  MaybeReload();
  auto task = std::make_unique<Task>();
  task->user = std::move(user);
  task->password = std::move(password);
  task->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (todo_.size() < kMaxQueued) {
      todo_.push_back(std::move(task));
      task = nullptr;
    }
  }
  if (task) {  // saturated: answer "try later" at once
    sodium_memzero(task->password.data(), task->password.size());
    log::Warning().Text("authentication queue full; answering 454");
    task->done(AuthOutcome::kTempFail);
    return;
  }
  cv_.notify_one();
}

void Authenticator::Worker() {
  while (true) {
    std::unique_ptr<Task> task;
    std::shared_ptr<const auth::UsersFile> users;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !todo_.empty(); });
      if (stop_) return;
      task = std::move(todo_.front());
      todo_.pop_front();
      users = users_;
    }
    if (!users) {
      auth::VerifyDummy(task->password);
      task->outcome = AuthOutcome::kBadCredentials;
    } else {
      task->outcome = users->Authenticate(task->user, task->password) ? AuthOutcome::kOk
                                                                       : AuthOutcome::kBadCredentials;
    }
    sodium_memzero(task->password.data(), task->password.size());
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_.push_back(std::move(task));
    }
    uint64_t one = 1;
    ssize_t w = write(wake_fd_, &one, sizeof one);
    (void)w;
  }
}

void Authenticator::OnWake(evutil_socket_t fd, short, void* arg) {
  auto* self = static_cast<Authenticator*>(arg);
  uint64_t n;
  ssize_t r = read(fd, &n, sizeof n);
  (void)r;
  std::deque<std::unique_ptr<Task>> ready;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    ready.swap(self->done_);
  }
  for (auto& t : ready) t->done(t->outcome);
}

int64_t Authenticator::FailureDelayMs(const std::string& key) const {
  auto it = failures_.find(key);
  if (it == failures_.end()) return 0;
  if (util::Clock::System().NowSeconds() - it->second.last > kFailureMemory) return 0;
  int n = std::min(it->second.count, 6);
  return std::min<int64_t>(250LL << n, 10000);  // 0.5 s, 1 s, 2 s ... capped at 10 s
}

void Authenticator::RecordFailure(const std::string& key) {
  int64_t now = util::Clock::System().NowSeconds();
  if (failures_.size() > 100000) failures_.clear();  // memory bound under a spray of addresses
  Failures& f = failures_[key];
  if (now - f.last > kFailureMemory) f.count = 0;
  ++f.count;
  f.last = now;
}

void Authenticator::RecordSuccess(const std::string& key) { failures_.erase(key); }

}  // namespace mailrelay::smtpd
