#include "master/options.h"

#include <cstring>

namespace mailrelay::master {

const char* Usage() {
  return "usage: mailrelayd [-c FILE] [-o SECTION.KEY=VALUE]... [-f|--foreground] [--check] [--version]\n"
         "  -c FILE        configuration (default /etc/mailrelay/mailrelay.ini)\n"
         "  -o S.K=V       override one key; also MAILRELAY_SECTION_KEY=value in the environment\n"
         "  -f             stay in the foreground and log to stderr (systemd, make run)\n"
         "  --check        validate the configuration and the files it names, then exit\n"
         "  --help-config  describe every configuration key and its default\n"
         "  --version      print the version\n";
}

util::Result<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* what) -> util::Result<std::string> {
      if (i + 1 >= argc) return util::InvalidArgument(a + " needs " + what);
      return std::string(argv[++i]);
    };
    if (a == "-c" || a == "--config") {
      MR_ASSIGN_OR_RETURN(o.config_path, value("a file name"));
    } else if (a.rfind("--config=", 0) == 0) {
      o.config_path = a.substr(9);
    } else if (a == "-o") {
      MR_ASSIGN_OR_RETURN(std::string kv, value("section.key=value"));
      MR_ASSIGN_OR_RETURN(config::Override ov, config::ParseOverride(kv));
      o.overrides.push_back(ov);
    } else if (a.rfind("-o", 0) == 0 && a.size() > 2) {
      MR_ASSIGN_OR_RETURN(config::Override ov, config::ParseOverride(a.substr(2)));
      o.overrides.push_back(ov);
    } else if (a == "-f" || a == "--foreground") {
      o.foreground = true;
    } else if (a == "--check" || a == "-n") {
      o.check = true;
    } else if (a == "--version" || a == "-V") {
      o.version = true;
    } else if (a == "--help-config") {
      o.help_config = true;
    } else if (a == "-h" || a == "--help") {
      o.help = true;
    } else {
      return util::InvalidArgument("unknown option " + a);
    }
  }
  return o;
}

}  // namespace mailrelay::master
