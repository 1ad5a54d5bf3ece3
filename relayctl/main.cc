// relayctl: the operator's command line (DESIGN.md "Command line"). Verbs are a table;
// check-config and user run here, everything else asks qmgr over control.sock. Exit 0 on
// success, 1 on a failed action, 2 on bad usage; errors are one line on stderr.
#include <iostream>
#include <map>

#include "common/config/config.h"
#include "relayctl/client.h"
#include "relayctl/run_dir.h"
#include "relayctl/format.h"
#include "relayctl/users.h"

using namespace mailrelay;

namespace {

constexpr const char* kUsage =
    "usage: relayctl [-c FILE] [--json] COMMAND\n"
    "  status                    processes, restarts in the last hour, queue size\n"
    "  list                      the queue: id, age, size, state, sender, recipients, last error\n"
    "  show ID                   one message: envelope, per-recipient state, attempts, headers\n"
    "  flush [ID...]             retry deferred messages now\n"
    "  requeue ID...|--all       reset attempts and retry now (also held messages)\n"
    "  hold ID... | release ID...\n"
    "  delete ID...|--all-deferred\n"
    "  log [--since DURATION]    the send log (default: last 24 h)\n"
    "  user add NAME | user del NAME | user list\n"
    "  check-config\n"
    "  reload\n";

struct Verb {
  int min_args;
  int max_args;  // -1: any
  std::string (*format)(const json::Value&);
};

const std::map<std::string, Verb>& Verbs() {
  static const std::map<std::string, Verb> verbs = {
      {"status", {0, 0, &relayctl::FormatStatus}},
      {"list", {0, 0, &relayctl::FormatList}},
      {"show", {1, 1, &relayctl::FormatShow}},
      {"flush", {0, -1, nullptr}},
      {"requeue", {1, -1, nullptr}},
      {"hold", {1, -1, nullptr}},
      {"release", {1, -1, nullptr}},
      {"delete", {1, -1, nullptr}},
      {"log", {0, 2, &relayctl::FormatLog}},
      {"reload", {0, 0, nullptr}},
  };
  return verbs;
}

int Usage(const std::string& why) {
  if (!why.empty()) std::cerr << "relayctl: " << why << "\n";
  std::cerr << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/mailrelay/mailrelay.ini";
  bool json = false;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--json") {
      json = true;
    } else if (a == "-h" || a == "--help" || a == "help") {
      std::cout << kUsage;
      return 0;
    } else if (!a.empty() && a[0] == '-' && words.empty()) {
      return Usage("unknown option " + a);
    } else {
      words.push_back(a);
    }
  }
  if (words.empty()) return Usage("no command");
  std::string verb = words[0];
  std::vector<std::string> args(words.begin() + 1, words.end());

  auto cfg = config::Load(config_path, {});
  if (verb == "check-config") {
    util::Status files = cfg.ok() ? config::CheckFiles(*cfg) : cfg.status();
    if (!files.ok()) {
      std::cerr << files.message() << "\n";
      return 1;
    }
    std::cout << config_path << ": OK\n";
    return 0;
  }
  if (verb == "user") {
    if (!cfg.ok()) {
      std::cerr << cfg.status().message() << "\nrelayctl: fix " << config_path << " (relayctl check-config)\n";
      return 1;
    }
    return relayctl::UserCommand(*cfg, args, json);
  }
  std::string run_dir;
  if (cfg.ok()) {
    run_dir = cfg->server.run_dir;
  } else {
    // The running relay keeps its old configuration while the file is being fixed; relayctl
    // only needs to find its socket.
    run_dir = relayctl::RunDirFromFile(config_path);
    if (run_dir.empty()) {
      std::cerr << cfg.status().message() << "\nrelayctl: fix " << config_path << " (relayctl check-config)\n";
      return 1;
    }
    std::cerr << "relayctl: warning: " << config_path << " has errors (relayctl check-config); using run_dir "
              << run_dir << "\n";
  }
  auto it = Verbs().find(verb);
  if (it == Verbs().end()) return Usage("unknown command '" + verb + "'");
  int n = static_cast<int>(args.size());
  if (n < it->second.min_args || (it->second.max_args >= 0 && n > it->second.max_args)) {
    return Usage("wrong number of arguments for " + verb);
  }
  auto result = relayctl::Call(run_dir, verb, args);
  if (!result.ok()) {
    std::cerr << "relayctl: " << result.status().message() << "\n";
    return 1;
  }
  if (result->exit_code != 0) {
    std::cerr << "relayctl: " << result->error << "\n";
    return result->exit_code;
  }
  if (json) {
    std::cout << result->body.Serialize(true) << "\n";
  } else if (it->second.format) {
    std::cout << it->second.format(result->body);
  } else {
    // Changes: say what happened in one line.
    for (const auto& [k, v] : result->body.as_object()) {
      if (v.is_number()) std::cout << k << " " << v.as_int() << " message(s)\n";
      if (k == "text") std::cout << v.as_string() << "\n";
    }
  }
  return 0;
}
