// Which backend a recipient goes to ([route] in DESIGN.md): an envelope-sender rule wins
// (exact address before @domain), then the recipient's domain (exact before .parent
// wildcard), then default; after fallback_after deferrals on that primary, the fallback.
// Pure; rebuilt on reload.
#pragma once

#include <optional>
#include <string>

#include "common/config/config.h"

namespace mailrelay::qmgr {

class Router {
 public:
  Router(const config::RouteConfig& route, const config::QueueConfig& queue);
  config::Backend Primary(const std::string& sender, const std::string& recipient) const;
  std::optional<config::Backend> Fallback() const { return route_.fallback; }
  // Deferrals on the primary before switching to the fallback.
  int FallbackAfter() const;

 private:
  config::RouteConfig route_;
  int max_attempts_;
};

std::string DomainOf(const std::string& address);  // lowercase; "" for <postmaster>

}  // namespace mailrelay::qmgr
