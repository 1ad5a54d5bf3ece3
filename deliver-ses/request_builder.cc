#include "deliver-ses/request_builder.h"

#include <algorithm>

#include "common/http/url.h"
#include "common/json/json.h"
#include "common/smtp/punycode.h"
#include "common/util/base64.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {

bool Contains(const std::vector<std::string>& list, const std::string& lower) {
  return std::find(list.begin(), list.end(), lower) != list.end();
}

void AppendList(std::string* out, const char* name, const std::vector<std::string>& list,
                bool* first) {
  if (list.empty()) return;
  if (!*first) out->push_back(',');
  *first = false;
  out->push_back('"');
  out->append(name);
  out->append("\":[");
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out->push_back(',');
    json::AppendQuoted(out, list[i]);
  }
  out->push_back(']');
}

}  // namespace

util::Result<std::string> SesAddress(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
    return util::InvalidArgument("\"" + util::Printable(address, 100) +
                                 "\" is not a mailbox address");
  }
  std::string_view local = address.substr(0, at);
  std::string_view domain = address.substr(at + 1);
  if (!util::IsAscii(local)) {
    return util::InvalidArgument("SES does not accept a non-ASCII local part (SMTPUTF8)");
  }
  std::string ascii_domain(domain);
  if (!util::IsAscii(domain)) {
    util::Result<std::string> a = smtp::DomainToAscii(domain);
    if (!a.ok()) return util::InvalidArgument("bad domain: " + a.status().message());
    ascii_domain = *a;
  }
  for (char c : address) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return util::InvalidArgument("control character in address");
    }
  }
  return std::string(local) + "@" + ascii_domain;
}

RecipientPlan PlanRecipients(const std::vector<agent::JobRecipient>& recipients,
                             const PreparedMessage& message) {
  RecipientPlan plan;
  for (const agent::JobRecipient& r : recipients) {
    util::Result<std::string> address = SesAddress(r.address);
    if (!address.ok()) {
      plan.refused.push_back(
          {r.index, 553, "5.6.7", "not sent through SES: " + address.status().message()});
      continue;
    }
    if (plan.batches.empty() || plan.batches.back().indexes.size() >= kSesMaxRecipients) {
      plan.batches.emplace_back();
    }
    Batch& b = plan.batches.back();
    b.indexes.push_back(r.index);
    const std::string lower = util::ToLower(*address);
    const std::string lower_original = util::ToLower(r.address);
    auto in = [&](const std::vector<std::string>& header) {
      return Contains(header, lower) || Contains(header, lower_original);
    };
    if (in(message.to_header)) {
      b.to.push_back(*address);
    } else if (in(message.cc_header)) {
      b.cc.push_back(*address);
    } else {
      b.bcc.push_back(*address);
    }
  }
  return plan;
}

std::string SendEmailBody(const SendEmailFields& fields, const Batch& batch,
                          std::string_view raw_base64) {
  std::string out;
  out.reserve(raw_base64.size() + 512 + 80 * batch.indexes.size());
  out += '{';
  if (!fields.from_email_address.empty()) {
    out += "\"FromEmailAddress\":";
    json::AppendQuoted(&out, fields.from_email_address);
    out += ',';
  }
  out += "\"Destination\":{";
  bool first = true;
  AppendList(&out, "ToAddresses", batch.to, &first);
  AppendList(&out, "CcAddresses", batch.cc, &first);
  AppendList(&out, "BccAddresses", batch.bcc, &first);
  out += "},\"Content\":{\"Raw\":{\"Data\":\"";
  out.append(raw_base64);
  out += "\"}}";
  if (!fields.configuration_set.empty()) {
    out += ",\"ConfigurationSetName\":";
    json::AppendQuoted(&out, fields.configuration_set);
  }
  if (!fields.tags.empty()) {
    out += ",\"EmailTags\":[";
    for (size_t i = 0; i < fields.tags.size(); ++i) {
      if (i) out += ',';
      out += "{\"Name\":";
      json::AppendQuoted(&out, fields.tags[i].first);
      out += ",\"Value\":";
      json::AppendQuoted(&out, fields.tags[i].second);
      out += '}';
    }
    out += ']';
  }
  out += '}';
  return out;
}

util::Result<SesEndpoint> SendEmailEndpoint(const std::string& base) {
  MR_ASSIGN_OR_RETURN(http::UrlParts u, http::ParseUrl(base));
  MR_RETURN_IF_ERROR(http::CheckUrlAllowed(base).WithContext("[ses] endpoint: "));
  if (base.find('?') != std::string::npos || base.find('#') != std::string::npos) {
    return util::InvalidArgument("[ses] endpoint: no query or fragment, please");
  }
  SesEndpoint e;
  std::string prefix = u.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  e.path = prefix + kSendEmailPath;
  const bool default_port =
      (u.scheme == "https" && u.port == 443) || (u.scheme == "http" && u.port == 80);
  e.host_header = util::ToLower(u.host) + (default_port ? "" : ":" + std::to_string(u.port));
  e.url = u.scheme + "://" + e.host_header + e.path;
  return e;
}

util::Result<http::Request> SignedSendEmailRequest(const SesEndpoint& endpoint,
                                                   const std::string& region, std::string body,
                                                   const Credentials& keys,
                                                   int64_t now_unix_seconds) {
  SigV4Request sr;
  sr.method = "POST";
  sr.path = endpoint.path;
  sr.headers = {{"Host", endpoint.host_header}, {"Content-Type", "application/json"}};
  sr.payload = body;
  MR_ASSIGN_OR_RETURN(SigV4Signature sig,
                      SignV4(sr, keys, {region, "ses", AmzDate(now_unix_seconds)}));
  http::Request req;
  req.method = "POST";
  req.url = endpoint.url;
  for (const Header& h : sig.headers) req.headers.emplace_back(h.name, h.value);
  req.body = std::move(body);
  return req;
}

}  // namespace mailrelay::ses
