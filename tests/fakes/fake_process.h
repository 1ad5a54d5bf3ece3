// C++ side of the Python fakes in tests/fakes/: temp dirs, the test PKI, and fakes started
// with /usr/bin/python3 on ephemeral loopback ports. Blocking; test code on one thread only.
// Failures are util::Status carrying the tail of the fake's stderr.
#pragma once

// Header-only; needs MAILRELAY_SOURCE_DIR (set by mailrelay_unit_test()) and mr_json.

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/json/json.h"
#include "common/util/file.h"
#include "common/util/status.h"
#include "common/util/strings.h"

extern char** environ;

namespace mailrelay::fakes {

inline constexpr char kPython[] = "/usr/bin/python3";

inline std::string FakesDir() { return std::string(MAILRELAY_SOURCE_DIR) + "/tests/fakes"; }

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction
// (kept when MAILRELAY_KEEP_TMP is set, for post-mortems).
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/mailrelay-test-XXXXXX";
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    if (path_.empty() || std::getenv("MAILRELAY_KEEP_TMP")) return;
    nftw(
        path_.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Spawns argv with stdin from `stdin_fd` (or /dev/null when -1), stdout to /dev/null and stderr
// to `log_path`.
inline util::Result<pid_t> Spawn(const std::vector<std::string>& argv, int stdin_fd,
                                 const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return util::ErrnoStatus("spawn " + argv[0], rc);
  return pid;
}

inline std::string LogTail(const std::string& log_path) {
  util::Result<std::string> log = util::ReadFile(log_path);
  if (!log.ok()) return "";
  std::string text = *log;
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

// Runs a helper to completion (e.g. testca.py); error with its stderr unless it exits 0.
inline util::Status RunToCompletion(const std::vector<std::string>& argv,
                                    const std::string& log_path) {
  MR_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, -1, log_path));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return util::Internal(argv[1] + " failed: " + LogTail(log_path));
  }
  return util::Status::Ok();
}

// Creates the test PKI (ca.pem, server.pem, wrongname.pem, expired.pem, untrusted.pem, ...)
// in `dir`.
inline util::Status MakeTestCa(const std::string& dir) {
  return RunToCompletion({kPython, FakesDir() + "/testca.py", dir}, dir + "/testca.log");
}

// One running fake. Stopped (SIGTERM, then reaped) on destruction; it also exits by itself
// when this process goes away, because it watches the stdin pipe we hold.
class FakeProcess {
 public:
  // Starts tests/fakes/<script> with --port-file, --record and --exit-on-stdin-eof added to
  // `args`; its files are <dir>/<name>.{port,json,log}.
  static util::Result<std::unique_ptr<FakeProcess>> Start(const std::string& script,
                                                          const std::string& dir,
                                                          const std::string& name,
                                                          std::vector<std::string> args) {
    auto fake = std::unique_ptr<FakeProcess>(new FakeProcess());
    fake->record_path_ = dir + "/" + name + ".json";
    fake->log_path_ = dir + "/" + name + ".log";
    const std::string port_path = dir + "/" + name + ".port";
    ::unlink(port_path.c_str());
    std::vector<std::string> argv = {
        kPython,    FakesDir() + "/" + script, "--port-file",        port_path,
        "--record", fake->record_path_,        "--exit-on-stdin-eof"};
    for (std::string& a : args) argv.push_back(std::move(a));
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return util::ErrnoStatus("pipe", errno);
    util::Result<pid_t> pid = Spawn(argv, fds[0], fake->log_path_);
    ::close(fds[0]);
    if (!pid.ok()) {
      ::close(fds[1]);
      return pid.status();
    }
    fake->pid_ = *pid;
    fake->stdin_fd_ = fds[1];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      util::Result<std::string> text = util::ReadFile(port_path);
      if (text.ok()) {
        std::optional<uint64_t> port = util::ParseUint(util::Trim(*text));
        if (port && *port > 0 && *port < 65536) {
          fake->port_ = static_cast<int>(*port);
          return fake;
        }
      }
      int status = 0;
      if (waitpid(fake->pid_, &status, WNOHANG) == fake->pid_) {
        fake->pid_ = -1;
        return util::Internal(script + " exited during start-up: " + LogTail(fake->log_path_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return util::Internal(script + " did not report its port: " + LogTail(fake->log_path_));
  }

  ~FakeProcess() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  FakeProcess(const FakeProcess&) = delete;
  FakeProcess& operator=(const FakeProcess&) = delete;

  int port() const { return port_; }
  // https://127.0.0.1:PORT + path (scheme "http" for fakes started with --plain).
  std::string Url(const std::string& path = "/", const std::string& scheme = "https") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  // What the fake recorded so far (see fakebase.py: requests, count, connections, ...).
  util::Result<json::Value> Record() const {
    MR_ASSIGN_OR_RETURN(std::string text, util::ReadFile(record_path_));
    return json::Parse(text);
  }
  std::string Log() const { return LogTail(log_path_); }

 private:
  FakeProcess() = default;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
  std::string record_path_;
  std::string log_path_;
};

}  // namespace mailrelay::fakes
