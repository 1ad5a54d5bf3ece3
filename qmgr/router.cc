#include "qmgr/router.h"

#include "common/util/strings.h"

namespace mailrelay::qmgr {

std::string DomainOf(const std::string& address) {
  size_t at = address.rfind('@');
  if (at == std::string::npos) return "";
  return util::ToLower(address.substr(at + 1));
}

Router::Router(const config::RouteConfig& route, const config::QueueConfig& queue)
    : route_(route), max_attempts_(queue.max_attempts) {}

int Router::FallbackAfter() const {
  if (route_.fallback_after > 0) return route_.fallback_after;
  return max_attempts_ > 0 ? max_attempts_ : 3;
}

config::Backend Router::Primary(const std::string& sender, const std::string& recipient) const {
  if (!sender.empty() && !route_.senders.empty()) {
    std::string s = util::ToLower(sender);
    std::string sdomain = DomainOf(s);
    for (const auto& rule : route_.senders) {
      if (rule.pattern == s) return rule.backend;
    }
    for (const auto& rule : route_.senders) {
      if (rule.pattern == "@" + sdomain) return rule.backend;
    }
    for (const auto& rule : route_.senders) {
      // "@.example.com" takes every subdomain of example.com.
      if (rule.pattern.size() > 2 && rule.pattern[1] == '.' && util::EndsWithIgnoreCase(sdomain, rule.pattern.substr(1))) {
        return rule.backend;
      }
    }
  }
  std::string domain = DomainOf(recipient);
  if (!domain.empty()) {
    auto exact = route_.domains.find(domain);
    if (exact != route_.domains.end()) return exact->second;
    // Longest wildcard parent wins: ".a.example.com" before ".example.com".
    for (size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1)) {
      auto wild = route_.domains.find(domain.substr(dot));
      if (wild != route_.domains.end()) return wild->second;
    }
  }
  return route_.default_backend.value_or(config::Backend::kFile);
}

}  // namespace mailrelay::qmgr
