#include "deliver-graph/settings.h"

#include <algorithm>

namespace mailrelay::graph {

namespace {
std::string WithoutTrailingSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}
}  // namespace

std::string KeyDirFor(const config::Config& config) {
  if (!config.graph.key_dir.empty()) return WithoutTrailingSlash(config.graph.key_dir);
  return WithoutTrailingSlash(config.server.spool_dir) + "/graph-keys";
}

GraphSettings GraphSettings::FromConfig(const config::Config& config) {
  const config::GraphConfig& g = config.graph;
  GraphSettings s;
  s.endpoint = WithoutTrailingSlash(g.endpoint);
  s.authority = WithoutTrailingSlash(g.authority);
  s.sender = g.sender;
  s.save_to_sent_items = g.save_to_sent_items;
  s.passthrough = g.passthrough_auth;
  s.delimiter = g.username_delimiter;
  s.timeout = std::max<int64_t>(g.timeout, 1);
  s.ca_file = g.ca_file;
  s.concurrency = std::max(g.concurrency, 1);
  s.key_dir = KeyDirFor(config);
  s.run_dir = config.server.run_dir;
  s.privsep = config.server.privilege_separation;
  return s;
}

}  // namespace mailrelay::graph
