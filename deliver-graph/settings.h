// deliver-graph's view of the configuration: the [graph] keys it acts on, normalised once at
// start-up (no trailing '/', the key directory resolved). Pure data; any thread; never fails.
#pragma once

#include <cstdint>
#include <string>

#include "common/config/config.h"

namespace mailrelay::graph {

// Graph refuses requests over 4 MB with 413 (learn.microsoft.com/graph/use-the-api); the docs
// do not say whether that is 4,000,000 or 4 MiB, and the service is the only judge. We stop at
// 4 MiB of request body, i.e. 3 MiB (3,145,728 bytes) of message in the MIME form, and bounce
// larger messages 552 5.3.4 before sending; a 413 from Graph bounces the same way.
inline constexpr size_t kMaxRequestBytes = 4 * 1024 * 1024;

// The socket smtpd asks for passthrough AUTH checks, in [server] run_dir.
inline constexpr char kAuthSocketName[] = "graph-auth.sock";

struct GraphSettings {
  std::string endpoint = "https://graph.microsoft.com";  // no trailing '/'
  std::string authority = "https://login.microsoftonline.com";
  std::string sender;              // mailbox to send as; "" = the envelope sender
  bool save_to_sent_items = true;  // false: the JSON form with saveToSentItems false
  bool passthrough = false;
  char delimiter = '@';
  int64_t timeout = 30;  // seconds per HTTP exchange (token or send)
  std::string ca_file;
  int concurrency = 4;
  std::string key_dir;   // where the passthrough key pair lives
  std::string run_dir;   // for graph-auth.sock
  bool privsep = false;  // [server] privilege_separation

  static GraphSettings FromConfig(const config::Config& config);
};

// [graph] key_dir, or spool_dir/graph-keys when it is not set.
std::string KeyDirFor(const config::Config& config);

}  // namespace mailrelay::graph
