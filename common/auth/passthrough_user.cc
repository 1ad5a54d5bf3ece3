#include "common/auth/passthrough_user.h"

#include "common/util/base64.h"

namespace mailrelay::auth {

namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsBase64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

std::string FormatUuid(std::string_view bytes16) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes16.size() && i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    auto b = static_cast<unsigned char>(bytes16[i]);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

util::Result<std::string> ParseUuidOrBase64Url(std::string_view id) {
  if (id.size() == 36) {
    std::string out;
    out.reserve(36);
    for (size_t i = 0; i < id.size(); ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash ? id[i] != '-' : !IsHex(id[i])) return util::InvalidArgument("not a UUID");
      out.push_back(Lower(id[i]));
    }
    return out;
  }
  std::string_view text = id;
  if (text.size() == 24 && text.substr(22) == "==") text = text.substr(0, 22);
  if (text.size() != 22)
    return util::InvalidArgument("neither a UUID nor a 22-character base64url UUID");
  for (char c : text) {
    if (!IsBase64Url(c)) return util::InvalidArgument("not base64url");
  }
  auto bytes = util::Base64UrlDecode(text);
  if (!bytes || bytes->size() != 16) return util::InvalidArgument("base64url that is not 16 bytes");
  return FormatUuid(*bytes);
}

util::Result<PassthroughUser> ParsePassthroughUser(std::string_view user, char delimiter) {
  if (delimiter != '@' && delimiter != ':' && delimiter != '|') {
    return util::InvalidArgument("the delimiter must be @, : or |");
  }
  if (user.empty() || user.size() > kMaxPassthroughUser) return util::InvalidArgument("bad length");
  for (char c : user) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) return util::InvalidArgument("control, space or non-ASCII character");
  }
  std::string_view head = user.substr(0, user.find('.'));
  size_t at = head.find(delimiter);
  if (at == std::string_view::npos) {
    return util::InvalidArgument(std::string("no '") + delimiter + "' between tenant and client");
  }
  if (head.find(delimiter, at + 1) != std::string_view::npos) {
    return util::InvalidArgument(std::string("more than one '") + delimiter + "'");
  }
  auto tenant = ParseUuidOrBase64Url(head.substr(0, at));
  if (!tenant.ok()) return util::InvalidArgument("tenant: " + tenant.status().message());
  auto client = ParseUuidOrBase64Url(head.substr(at + 1));
  if (!client.ok()) return util::InvalidArgument("client: " + client.status().message());
  return PassthroughUser{std::move(tenant).value(), std::move(client).value()};
}

}  // namespace mailrelay::auth
