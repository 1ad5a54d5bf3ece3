#include "common/mime/mime_tree.h"

#include <utility>

#include "common/util/strings.h"

namespace mailrelay::mime {

namespace {

struct Range {
  size_t begin;
  size_t end;
};

struct Split {
  std::vector<Range> parts;
  bool found = false;   // at least one delimiter line
  bool closed = false;  // the close delimiter was seen
  bool truncated = false;
};

// Length of the delimiter line for `delim` at message[p] (line end included), or 0 if the
// line is not one. `close` tells whether it is the close delimiter ("--boundary--").
// Transport padding (spaces, tabs) may follow, as RFC 2046 allows; anything else may not.
size_t MatchDelimiter(std::string_view m, size_t p, size_t end, std::string_view delim,
                      bool* close) {
  if (end - p < delim.size() || m.compare(p, delim.size(), delim) != 0) return 0;
  size_t q = p + delim.size();
  *close = false;
  if (q + 1 < end && m[q] == '-' && m[q + 1] == '-') {
    *close = true;
    q += 2;
  }
  while (q < end && (m[q] == ' ' || m[q] == '\t')) ++q;
  if (q == end) return q - p;
  if (m[q] == '\n') return q + 1 - p;
  if (m[q] == '\r') {
    if (q + 1 == end) return q + 1 - p;
    if (m[q + 1] == '\n') return q + 2 - p;
  }
  return 0;
}

// Cuts [begin, end) at the lines "--boundary". The line end before a delimiter belongs to
// the delimiter; preamble and epilogue are dropped; without a close delimiter the last part
// runs to `end`. Stops after max_parts parts.
Split SplitMultipart(std::string_view m, size_t begin, size_t end, std::string_view boundary,
                     size_t max_parts) {
  Split out;
  std::string delim = "--" + std::string(boundary);
  size_t open = std::string_view::npos;  // start of the part being read
  size_t p = begin;
  // Only line starts can hold a delimiter: `begin` itself, then every "\n--".
  bool at_line_start = true;
  while (p < end) {
    if (!at_line_start) {
      size_t nl = m.substr(0, end).find("\n--", p);
      if (nl == std::string_view::npos) break;
      p = nl + 1;
    }
    at_line_start = false;
    bool close = false;
    size_t len = MatchDelimiter(m, p, end, delim, &close);
    if (len == 0) continue;
    if (open != std::string_view::npos) {
      size_t ce = p;
      if (ce > open && m[ce - 1] == '\n') --ce;
      if (ce > open && m[ce - 1] == '\r') --ce;
      out.parts.push_back({open, ce});
      open = std::string_view::npos;
    }
    out.found = true;
    if (close) {
      out.closed = true;
      return out;
    }
    if (out.parts.size() >= max_parts) {
      out.truncated = true;
      return out;
    }
    open = p + len;
    p = open;
    at_line_start = true;
  }
  if (open != std::string_view::npos) out.parts.push_back({open, end});
  return out;
}

Entity MakeEntity(std::string_view m, Range r, int parent, int depth, std::string_view default_type,
                  size_t max_fields) {
  Entity e;
  std::string_view part = m.substr(r.begin, r.end - r.begin);
  MessageSections sec = SplitMessage(part);
  std::string_view header = sec.header;
  size_t body_offset = sec.body_offset;
  if (depth > 0) {
    // A body part that forgot the empty line before its body: its first line that is no
    // field starts the body, as in Python's parser. (The message itself keeps the strict
    // rule, which HeaderEditor shares, so both agree on what the header fields are.)
    FieldScanner scanner(sec.header);
    FieldView field;
    while (scanner.Next(&field)) {
      if (field.name.empty()) {
        header = sec.header.substr(0, field.offset);
        body_offset = field.offset;
        break;
      }
    }
  }
  e.headers = ParseHeaderSection(header, max_fields);
  e.offset = r.begin;
  e.body_offset = r.begin + body_offset;
  e.body_size = part.size() - body_offset;
  e.parent = parent;
  e.depth = depth;
  if (auto v = e.headers.Get("Content-Type")) e.content_type = ParseContentType(*v);
  e.mime_type = e.content_type.valid ? e.content_type.MimeType() : std::string(default_type);
  if (auto v = e.headers.Get("Content-Disposition")) {
    e.disposition = ParseContentDisposition(*v);
  }
  if (auto v = e.headers.Get("Content-Transfer-Encoding")) {
    e.transfer_encoding = ParseParameterizedValue(*v).value;
  }
  if (auto v = e.headers.Get("Content-ID")) e.content_id = NormalizeContentId(*v);
  return e;
}

}  // namespace

std::string NormalizeContentId(std::string_view id) {
  id = util::Trim(id);
  if (!id.empty() && id.front() == '<') id.remove_prefix(1);
  if (!id.empty() && id.back() == '>') id.remove_suffix(1);
  return std::string(util::Trim(id));
}

MimeTree ParseMimeTree(std::string_view message, const ParseLimits& limits) {
  MimeTree tree;
  tree.entities.push_back(
      MakeEntity(message, {0, message.size()}, -1, 0, "text/plain", limits.max_header_fields));
  std::vector<int> work = {0};
  while (!work.empty()) {
    int index = work.back();
    work.pop_back();
    // Copies, not references: adding children below reallocates the vector.
    const ContentType ct = tree.entities[index].content_type;
    const int depth = tree.entities[index].depth;
    if (!ct.valid || ct.type != "multipart") continue;
    auto degrade = [&](const char* type, const std::string& why) {
      tree.entities[index].mime_type = type;
      tree.defects.push_back("part " + std::to_string(index) + ": " + why);
    };
    if (static_cast<size_t>(depth) >= limits.max_depth) {
      degrade("application/octet-stream", "multipart nested too deep, kept as one leaf");
      continue;
    }
    const std::string* boundary = ct.params.Get("boundary");
    if (!boundary || boundary->empty()) {
      degrade("text/plain", "multipart without boundary, read as text");
      continue;
    }
    size_t room =
        limits.max_parts > tree.entities.size() ? limits.max_parts - tree.entities.size() : 0;
    const Entity& e = tree.entities[index];
    Split split =
        SplitMultipart(message, e.body_offset, e.body_offset + e.body_size, *boundary, room);
    if (!split.found) {
      degrade("text/plain", "boundary never appears, multipart read as text");
      continue;
    }
    if (!split.closed && !split.truncated) {
      tree.defects.push_back("part " + std::to_string(index) +
                             ": no close delimiter, last part runs to the end");
    }
    if (split.truncated || room == 0) {
      tree.defects.push_back("part " + std::to_string(index) + ": more than " +
                             std::to_string(limits.max_parts) + " parts, rest dropped");
    }
    std::string_view child_default = ct.subtype == "digest" ? "message/rfc822" : "text/plain";
    tree.entities[index].multipart = true;
    std::vector<int> children;
    for (const Range& r : split.parts) {
      if (tree.entities.size() >= limits.max_parts) break;
      children.push_back(static_cast<int>(tree.entities.size()));
      tree.entities.push_back(
          MakeEntity(message, r, index, depth + 1, child_default, limits.max_part_header_fields));
    }
    for (auto it = children.rbegin(); it != children.rend(); ++it) work.push_back(*it);
    tree.entities[index].children = std::move(children);
  }
  return tree;
}

std::string DescribeTree(const MimeTree& tree) {
  std::string out;
  // (entity, next child to print); a manual stack keeps hostile depth off the call stack.
  std::vector<std::pair<int, size_t>> stack = {{0, 0}};
  while (!stack.empty()) {
    auto& [index, next] = stack.back();
    const Entity& e = tree.entities[index];
    if (next == 0) out += e.mime_type;
    if (!e.multipart) {
      stack.pop_back();
      continue;
    }
    if (next == e.children.size()) {
      if (next == 0)
        out += "()";
      else
        out += ")";
      stack.pop_back();
      continue;
    }
    out += next == 0 ? "(" : ",";
    int child = e.children[next++];
    stack.emplace_back(child, 0);
  }
  return out;
}

}  // namespace mailrelay::mime
