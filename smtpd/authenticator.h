// SMTP AUTH verification for smtpd. Password hashes are slow on purpose, so they run on a
// small worker pool with a bounded queue (a flood gets 454, never an unbounded backlog), and
// results come back to the loop through an eventfd. The users file is read at start (as
// root) and again when it changes, if smtpd can still read it. Failed attempts are answered
// after a delay that grows per client address. Loop thread for the API; workers only hash.
#pragma once

#include <event2/event.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/auth/users_file.h"
#include "common/config/config.h"
#include "common/util/status.h"

namespace mailrelay::smtpd {

enum class AuthOutcome { kOk, kBadCredentials, kTempFail };

class Authenticator {
 public:
  Authenticator(event_base* base, const config::Config& cfg, int workers = 2);
  ~Authenticator();
  util::Status LoadUsers();  // at start-up; a missing file is an empty user list
  bool has_users() const;

  using DoneFn = std::function<void(AuthOutcome)>;
  // Checks user/password; `done` runs on the loop. The password is wiped after use.
  void Verify(std::string user, std::string password, DoneFn done);

  // Per client address: how long to wait before answering a failure (grows with failures).
  int64_t FailureDelayMs(const std::string& client_key) const;
  void RecordFailure(const std::string& client_key);
  void RecordSuccess(const std::string& client_key);

 private:
  struct Task {
    std::string user;
    std::string password;
    DoneFn done;
    AuthOutcome outcome = AuthOutcome::kTempFail;
  };
  static void OnWake(evutil_socket_t fd, short, void* arg);
  void Worker();
  void MaybeReload();

  event_base* base_;
  std::string path_;
  int wake_fd_;
  event* wake_ev_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Task>> todo_;
  std::deque<std::unique_ptr<Task>> done_;
  std::shared_ptr<const auth::UsersFile> users_;  // swapped whole on reload
  int64_t users_mtime_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
  struct Failures {
    int count = 0;
    int64_t last = 0;
  };
  std::map<std::string, Failures> failures_;
};

}  // namespace mailrelay::smtpd
