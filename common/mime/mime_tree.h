// The MIME structure (RFC 2045/2046): entities with headers, types and byte ranges.
// Pure; any thread. Never fails, never recurses: depth and part count are bounded, broken
// structure degrades to leaves, and each degradation is recorded in MimeTree::defects.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mime/content_type.h"
#include "common/mime/header.h"

namespace mailrelay::mime {

struct ParseLimits {
  size_t max_depth = 32;                // nested multiparts; a multipart deeper than this is a leaf
  size_t max_parts = 1000;              // entities in the tree, the message itself included
  size_t max_header_fields = 10000;     // fields in the message's header section
  size_t max_part_header_fields = 200;  // fields in a body part's header section
};

struct Entity {
  HeaderList headers;
  ContentType content_type;  // as declared; valid == false if absent or unusable
  // Effective lowercased type/subtype: the declared one, else the default (text/plain, or
  // message/rfc822 inside multipart/digest); application/octet-stream for a multipart too
  // deep to split, text/plain for a multipart without a usable boundary.
  std::string mime_type;
  std::optional<ContentDisposition> disposition;  // nullopt without Content-Disposition
  std::optional<std::string> transfer_encoding;   // lowercased, comments removed
  std::optional<std::string> content_id;          // without the angle brackets

  // Where the entity (its header section) starts in the message. In a body part the first
  // line that is no field starts the body even without the empty line RFC 2046 wants.
  size_t offset = 0;
  size_t body_offset = 0;  // where its body starts
  size_t body_size = 0;
  int parent = -1;            // index in MimeTree::entities; -1 for the message
  int depth = 0;              // 0 for the message
  std::vector<int> children;  // body parts in order (multiparts only)
  bool multipart = false;     // split into children (false for a degraded multipart)

  std::string_view Body(std::string_view message) const {
    return message.substr(body_offset, body_size);
  }
  bool IsAttachment() const { return disposition && disposition->type == "attachment"; }
};

struct MimeTree {
  std::vector<Entity> entities;      // entities[0] is the message itself
  std::vector<std::string> defects;  // what was broken and how it was handled, for logs
};

MimeTree ParseMimeTree(std::string_view message, const ParseLimits& limits = {});

// "multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)": the
// effective types, depth first; message/rfc822 is a leaf.
std::string DescribeTree(const MimeTree& tree);

// Content-ID or start parameter without whitespace and angle brackets.
std::string NormalizeContentId(std::string_view id);

}  // namespace mailrelay::mime
