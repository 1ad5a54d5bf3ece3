#include "deliver-graph/credentials.h"

#include <sodium.h>

#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::graph {

namespace {

constexpr std::string_view kMagic = "mailrelay-graph-1\n";

// An id as it may appear in the sealed blob: printable ASCII, no separator.
bool PlainId(std::string_view id) {
  if (id.empty() || id.size() > 256) return false;
  for (char c : id) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) return false;
  }
  return true;
}

}  // namespace

void WipeSecret(std::string* s) {
  if (!s->empty()) sodium_memzero(s->data(), s->size());
  s->clear();
}

Credentials::~Credentials() { WipeSecret(&client_secret); }

util::Result<std::optional<Credentials>> LoadStaticCredentials(const config::GraphConfig& graph) {
  if (graph.tenant_id.empty() || graph.client_id.empty() || graph.client_secret_file.empty()) {
    return std::optional<Credentials>();
  }
  auto secret = util::ReadSecretFile(graph.client_secret_file);
  if (!secret.ok()) return secret.status().WithContext("[graph] client_secret_file: ");
  std::string s = std::move(secret).value();
  if (util::Trim(s).empty()) {
    return util::InvalidArgument("[graph] client_secret_file " + graph.client_secret_file +
                                 " is empty");
  }
  std::optional<Credentials> out(std::in_place, graph.tenant_id, graph.client_id, std::move(s));
  WipeSecret(&s);
  return out;
}

std::string EncodeCredentials(const Credentials& c) {
  std::string out(kMagic);
  out.reserve(kMagic.size() + c.tenant_id.size() + c.client_id.size() + c.client_secret.size() + 2);
  out += c.tenant_id;
  out += '\n';
  out += c.client_id;
  out += '\n';
  out += c.client_secret;
  return out;
}

util::Result<Credentials> DecodeCredentials(std::string_view p) {
  if (p.substr(0, kMagic.size()) != kMagic)
    return util::InvalidArgument("sealed credentials of an unknown format");
  p.remove_prefix(kMagic.size());
  size_t a = p.find('\n');
  size_t b = a == std::string_view::npos ? a : p.find('\n', a + 1);
  if (b == std::string_view::npos) return util::InvalidArgument("sealed credentials are truncated");
  Credentials c(std::string(p.substr(0, a)), std::string(p.substr(a + 1, b - a - 1)),
                std::string(p.substr(b + 1)));
  if (!PlainId(c.tenant_id) || !PlainId(c.client_id) || c.client_secret.empty()) {
    return util::InvalidArgument("sealed credentials hold an empty or malformed field");
  }
  return c;
}

util::Result<std::string> SealCredentials(const Credentials& credentials,
                                          std::string_view public_key) {
  std::string plain = EncodeCredentials(credentials);
  auto sealed = auth::Seal(plain, public_key);
  WipeSecret(&plain);
  return sealed;
}

util::Result<Credentials> OpenCredentials(std::string_view sealed, const auth::BoxKeyPair& keys) {
  auto plain = auth::Open(sealed, keys.public_key, keys.secret_key);
  if (!plain.ok()) return plain.status();
  std::string text = std::move(plain).value();
  auto c = DecodeCredentials(text);
  WipeSecret(&text);
  return c;
}

}  // namespace mailrelay::graph
