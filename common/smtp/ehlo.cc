#include "common/smtp/ehlo.h"

#include "common/util/strings.h"

namespace mailrelay::smtp {

namespace {

std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

void AddMechanism(EhloExtensions* e, std::string_view mech) {
  std::string upper = util::ToUpper(mech);
  if (upper.empty() || upper.size() > 20) return;
  for (const std::string& m : e->auth_mechanisms) {
    if (m == upper) return;
  }
  e->auth_mechanisms.push_back(std::move(upper));
}

}  // namespace

bool EhloExtensions::HasAuthMechanism(std::string_view mechanism) const {
  for (const std::string& m : auth_mechanisms) {
    if (util::EqualsIgnoreCase(m, mechanism)) return true;
  }
  return false;
}

util::Result<EhloExtensions> ParseEhloReply(const Reply& reply) {
  if (reply.code != 250) {
    return util::FailedPrecondition("EHLO refused: " + std::to_string(reply.code) + " " +
                                    util::Printable(reply.Text()));
  }
  if (reply.lines.empty()) return util::InvalidArgument("empty EHLO reply");
  EhloExtensions e;
  std::vector<std::string> first = Words(reply.lines[0]);
  if (!first.empty()) e.domain = first[0];
  for (size_t i = 1; i < reply.lines.size(); ++i) {
    std::vector<std::string> words = Words(reply.lines[i]);
    if (words.empty()) continue;
    const std::string& kw = words[0];
    if (util::EqualsIgnoreCase(kw, "SIZE")) {
      e.size = true;
      if (words.size() > 1) {
        std::optional<uint64_t> n = util::ParseUint(words[1]);
        if (n) e.size_limit = *n;
      }
    } else if (util::EqualsIgnoreCase(kw, "PIPELINING")) {
      e.pipelining = true;
    } else if (util::EqualsIgnoreCase(kw, "STARTTLS")) {
      e.starttls = true;
    } else if (util::EqualsIgnoreCase(kw, "AUTH") || util::StartsWithIgnoreCase(kw, "AUTH=")) {
      e.auth = true;
      if (kw.size() > 5) AddMechanism(&e, std::string_view(kw).substr(5));
      for (size_t w = 1; w < words.size(); ++w) AddMechanism(&e, words[w]);
    } else if (util::EqualsIgnoreCase(kw, "8BITMIME")) {
      e.eightbitmime = true;
    } else if (util::EqualsIgnoreCase(kw, "SMTPUTF8")) {
      e.smtputf8 = true;
    } else if (util::EqualsIgnoreCase(kw, "ENHANCEDSTATUSCODES")) {
      e.enhanced_status_codes = true;
    } else if (util::EqualsIgnoreCase(kw, "CHUNKING")) {
      e.chunking = true;
    } else if (util::EqualsIgnoreCase(kw, "BINARYMIME")) {
      e.binarymime = true;
    } else if (util::EqualsIgnoreCase(kw, "DSN")) {
      e.dsn = true;
    } else {
      e.other.push_back(reply.lines[i]);
    }
  }
  return e;
}

std::vector<std::string> EhloReplyLines(const EhloExtensions& e, std::string_view greeting) {
  std::vector<std::string> lines;
  lines.push_back(greeting.empty() ? e.domain : e.domain + " " + std::string(greeting));
  if (e.pipelining) lines.emplace_back("PIPELINING");
  if (e.size) lines.push_back(e.size_limit ? "SIZE " + std::to_string(e.size_limit) : "SIZE");
  if (e.starttls) lines.emplace_back("STARTTLS");
  if (e.auth && !e.auth_mechanisms.empty()) {
    lines.push_back("AUTH " + util::Join(e.auth_mechanisms, " "));
  }
  if (e.enhanced_status_codes) lines.emplace_back("ENHANCEDSTATUSCODES");
  if (e.eightbitmime) lines.emplace_back("8BITMIME");
  if (e.binarymime) lines.emplace_back("BINARYMIME");
  if (e.chunking) lines.emplace_back("CHUNKING");
  if (e.dsn) lines.emplace_back("DSN");
  if (e.smtputf8) lines.emplace_back("SMTPUTF8");
  for (const std::string& o : e.other) lines.push_back(o);
  return lines;
}

}  // namespace mailrelay::smtp
