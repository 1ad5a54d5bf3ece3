// Frames of the IPC protocol: a 12-byte little-endian header (payload length u32, type u16,
// flags u16, request id u32) and a payload of fields (tag u16, length u32, value). Decoding
// validates the whole frame against its type's schema (protocol.h) before anyone sees it:
// unknown type or tag, bad lengths, missing required or repeated single fields, oversized
// values, trailing bytes are all errors, never crashes. Pure code, any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/ipc/protocol.h"
#include "common/util/status.h"

namespace mailrelay::ipc {

// A decoded field list (a frame payload or a nested group). Values are views into the
// storage owned by the Message that contains them.
class Fields {
 public:
  bool Has(Tag tag) const;
  uint64_t U64(Tag tag, uint64_t def = 0) const;
  std::string_view Str(Tag tag) const;  // "" when absent
  std::vector<std::string_view> All(Tag tag) const;
  std::vector<Fields> Groups(Tag tag) const;

  // Building.
  Fields& Add(Tag tag, uint64_t value);
  Fields& Add(Tag tag, std::string_view value);
  Fields& Add(Tag tag, const char* value) { return Add(tag, std::string_view(value)); }
  Fields& Add(Tag tag, const std::string& value) { return Add(tag, std::string_view(value)); }
  Fields& AddGroup(Tag tag, const Fields& group);

  void EncodeTo(std::string* out) const;

  struct Item {
    Tag tag;
    std::string_view value;
  };
  const std::vector<Item>& items() const { return items_; }

 private:
  friend util::Status DecodeFields(std::string_view payload, const Schema& schema, Fields* out, int depth);
  friend class Message;
  std::vector<Item> items_;
  // Values added while building live here; decoded values point into the frame instead.
  std::vector<std::unique_ptr<std::string>> owned_;
};

class Message {
 public:
  Message() = default;
  Message(Type type, uint32_t request_id = 0) : type_(type), request_id_(request_id) {}
  Message(Message&&) = default;
  Message& operator=(Message&&) = default;

  Type type() const { return type_; }
  uint32_t request_id() const { return request_id_; }
  const Fields& fields() const { return fields_; }
  Fields& fields() { return fields_; }

  // Shorthands.
  Message& Add(Tag tag, uint64_t v) { fields_.Add(tag, v); return *this; }
  Message& Add(Tag tag, std::string_view v) { fields_.Add(tag, v); return *this; }
  Message& Add(Tag tag, const char* v) { fields_.Add(tag, std::string_view(v)); return *this; }
  Message& Add(Tag tag, const std::string& v) { fields_.Add(tag, std::string_view(v)); return *this; }
  Message& AddGroup(Tag tag, const Fields& g) { fields_.AddGroup(tag, g); return *this; }
  bool Has(Tag tag) const { return fields_.Has(tag); }
  uint64_t U64(Tag tag, uint64_t def = 0) const { return fields_.U64(tag, def); }
  std::string_view Str(Tag tag) const { return fields_.Str(tag); }
  std::vector<std::string_view> All(Tag tag) const { return fields_.All(tag); }
  std::vector<Fields> Groups(Tag tag) const { return fields_.Groups(tag); }

  // Header + payload. Building code is trusted: a message that does not fit its schema is
  // a programming error and Encode() says so in the Status.
  util::Result<std::string> Encode() const;
  // Header + fields for a frame that a `data_tag` field of `data_size` bytes will end; the
  // whole frame is validated as if that field were present (Channel::SendWithData).
  util::Result<std::string> EncodeHead(Tag data_tag, size_t data_size) const;

 private:
  friend util::Result<size_t> DecodeFrame(std::string_view, size_t, Message*);
  Type type_ = Type::kHello;
  uint32_t request_id_ = 0;
  std::shared_ptr<std::string> storage_;  // the frame the fields point into
  Fields fields_;
};

// Decodes one frame from the front of `data`. Returns the number of bytes consumed, or 0
// if the frame is not complete yet (wait for more). Errors mean the peer is broken or
// hostile: close the connection.
util::Result<size_t> DecodeFrame(std::string_view data, size_t max_payload, Message* out);

util::Status DecodeFields(std::string_view payload, const Schema& schema, Fields* out, int depth = 0);
util::Status ValidateFields(const Fields& fields, const Schema& schema);

}  // namespace mailrelay::ipc
