// mailrelayd: the master. Validates the configuration, binds the listeners (the only step
// that needs root), starts and watches qmgr, smtpd and the delivery agents. See
// supervisor.h and docs/architecture.md.
#include <event2/event.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/proc/child.h"
#include "common/proc/privileges.h"
#include "master/options.h"
#include "master/supervisor.h"

#ifndef MAILRELAY_VERSION
#define MAILRELAY_VERSION "dev"
#endif

using namespace mailrelay;

namespace {

// Classic daemon start for init systems without -f: the parent returns once the child runs.
void Daemonize() {
  if (pid_t pid = fork(); pid > 0) _exit(0);
  setsid();
  if (pid_t pid = fork(); pid > 0) _exit(0);
  if (chdir("/") != 0) _exit(1);
  FILE* null = freopen("/dev/null", "r", stdin);
  null = freopen("/dev/null", "w", stdout);
  null = freopen("/dev/null", "w", stderr);
  (void)null;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = master::ParseOptions(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "mailrelayd: " << parsed.status().message() << "\n" << master::Usage();
    return 2;
  }
  master::Options options = std::move(parsed).value();
  if (options.help) {
    std::cout << master::Usage();
    return 0;
  }
  if (options.help_config) {
    std::cout << config::Describe();
    return 0;
  }
  if (options.version) {
    std::cout << "mailrelayd " << MAILRELAY_VERSION << "\n";
    return 0;
  }
  config::LoadOptions lo;
  lo.overrides = options.overrides;
  auto loaded = config::Load(options.config_path, lo);
  util::Status files = loaded.ok() ? config::CheckFiles(*loaded) : util::Status::Ok();
  if (!loaded.ok() || !files.ok()) {
    std::cerr << (loaded.ok() ? files.message() : loaded.status().message()) << "\n";
    if (options.check) {
      std::cerr << "mailrelayd: " << options.config_path << " is not valid\n";
      return 1;
    }
    // EX_CONFIG: the unit's RestartPreventExitStatus, since restarting cannot fix the file.
    return proc::kExitDoNotRestart;
  }
  config::Config cfg = std::move(loaded).value();
  if (options.check) {
    std::string backends;
    for (auto b : cfg.UsedBackends()) backends += std::string(backends.empty() ? "" : ", ") + config::BackendName(b);
    std::cout << options.config_path << ": OK (backends: " << backends << "; listen: ";
    for (size_t i = 0; i < cfg.smtpd.listen.size(); ++i) std::cout << (i ? ", " : "") << cfg.smtpd.listen[i].ToString();
    std::cout << ")\n";
    return 0;
  }
  log::Init("mailrelayd", cfg.server.log_format, cfg.server.log_level);
  proc::RaiseFdLimit();
  if (!options.foreground) {
    Daemonize();
    log::UseSyslog("mailrelay");
  }
  event_base* base = event_base_new();
  int rc;
  {
    master::Supervisor supervisor(base, options, cfg);
    util::Status st = supervisor.Start();
    if (!st.ok()) {
      log::Fatal().Text(st.message());
      rc = 1;
    } else {
      log::Info().Kv("config", options.config_path).Text("mailrelayd " MAILRELAY_VERSION " started");
      event_base_dispatch(base);
      rc = supervisor.exit_code();
    }
  }
  event_base_free(base);
  return rc;
}
