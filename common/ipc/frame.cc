#include "common/ipc/frame.h"

#include <cstring>

namespace mailrelay::ipc {

using util::InvalidArgument;

namespace {

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}
void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint16_t GetU16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

constexpr size_t kFieldHeader = 6;

}  // namespace

bool Fields::Has(Tag tag) const {
  for (const auto& it : items_) {
    if (it.tag == tag) return true;
  }
  return false;
}

uint64_t Fields::U64(Tag tag, uint64_t def) const {
  for (const auto& it : items_) {
    if (it.tag == tag && it.value.size() == 8) return GetU64(it.value.data());
  }
  return def;
}

std::string_view Fields::Str(Tag tag) const {
  for (const auto& it : items_) {
    if (it.tag == tag) return it.value;
  }
  return {};
}

std::vector<std::string_view> Fields::All(Tag tag) const {
  std::vector<std::string_view> out;
  for (const auto& it : items_) {
    if (it.tag == tag) out.push_back(it.value);
  }
  return out;
}

std::vector<Fields> Fields::Groups(Tag tag) const {
  // Group payloads were validated when the frame was decoded (or are our own building),
  // so decoding them again with a permissive walk cannot fail in a way that matters.
  std::vector<Fields> out;
  for (const auto& it : items_) {
    if (it.tag != tag) continue;
    Fields g;
    std::string_view p = it.value;
    while (p.size() >= kFieldHeader) {
      Tag t = static_cast<Tag>(GetU16(p.data()));
      uint32_t len = GetU32(p.data() + 2);
      if (len > p.size() - kFieldHeader) break;
      g.items_.push_back({t, p.substr(kFieldHeader, len)});
      p.remove_prefix(kFieldHeader + len);
    }
    out.push_back(std::move(g));
  }
  return out;
}

Fields& Fields::Add(Tag tag, uint64_t value) {
  auto s = std::make_unique<std::string>();
  PutU64(s.get(), value);
  items_.push_back({tag, *s});
  owned_.push_back(std::move(s));
  return *this;
}

Fields& Fields::Add(Tag tag, std::string_view value) {
  auto s = std::make_unique<std::string>(value);
  items_.push_back({tag, *s});
  owned_.push_back(std::move(s));
  return *this;
}

Fields& Fields::AddGroup(Tag tag, const Fields& group) {
  auto s = std::make_unique<std::string>();
  group.EncodeTo(s.get());
  items_.push_back({tag, *s});
  owned_.push_back(std::move(s));
  return *this;
}

void Fields::EncodeTo(std::string* out) const {
  for (const auto& it : items_) {
    PutU16(out, static_cast<uint16_t>(it.tag));
    PutU32(out, static_cast<uint32_t>(it.value.size()));
    out->append(it.value);
  }
}

util::Status ValidateFields(const Fields& fields, const Schema& schema) {
  for (size_t i = 0; i < schema.count; ++i) {
    const FieldSpec& spec = schema.fields[i];
    size_t n = 0;
    for (const auto& it : fields.items()) {
      if (it.tag == spec.tag) ++n;
    }
    if (spec.required && n == 0) {
      return InvalidArgument(std::string(schema.name) + ": missing field " + spec.name);
    }
    if (!spec.repeated && n > 1) {
      return InvalidArgument(std::string(schema.name) + ": field " + spec.name + " repeated");
    }
  }
  for (const auto& it : fields.items()) {
    const FieldSpec* spec = schema.Find(it.tag);
    if (!spec) {
      return InvalidArgument(std::string(schema.name) + ": unknown field tag " +
                             std::to_string(static_cast<int>(it.tag)));
    }
    switch (spec->kind) {
      case Kind::kU64:
        if (it.value.size() != 8) {
          return InvalidArgument(std::string(schema.name) + ": field " + spec->name + " is not 8 bytes");
        }
        break;
      case Kind::kString:
        if (it.value.find('\0') != std::string_view::npos) {
          return InvalidArgument(std::string(schema.name) + ": field " + spec->name + " contains NUL");
        }
        [[fallthrough]];
      case Kind::kBytes:
      case Kind::kGroup:
        if (it.value.size() > spec->max_len) {
          return InvalidArgument(std::string(schema.name) + ": field " + spec->name + " too long (" +
                                 std::to_string(it.value.size()) + " > " + std::to_string(spec->max_len) + ")");
        }
        break;
    }
  }
  return util::Status::Ok();
}

util::Status DecodeFields(std::string_view payload, const Schema& schema, Fields* out, int depth) {
  if (depth > 2) return InvalidArgument(std::string(schema.name) + ": groups nested too deep");
  out->items_.clear();
  while (!payload.empty()) {
    if (payload.size() < kFieldHeader) {
      return InvalidArgument(std::string(schema.name) + ": truncated field header");
    }
    Tag tag = static_cast<Tag>(GetU16(payload.data()));
    uint32_t len = GetU32(payload.data() + 2);
    if (len > payload.size() - kFieldHeader) {
      return InvalidArgument(std::string(schema.name) + ": field length exceeds the frame");
    }
    std::string_view value = payload.substr(kFieldHeader, len);
    const FieldSpec* spec = schema.Find(tag);
    if (spec && spec->kind == Kind::kGroup) {
      Fields inner;
      util::Status st = DecodeFields(value, *spec->group, &inner, depth + 1);
      if (!st.ok()) return st;
    }
    out->items_.push_back({tag, value});
    payload.remove_prefix(kFieldHeader + len);
  }
  return ValidateFields(*out, schema);
}

util::Result<std::string> Message::Encode() const {
  const Schema* schema = SchemaFor(type_);
  if (!schema) return util::Internal("encoding a message of unknown type");
  util::Status st = ValidateFields(fields_, *schema);
  if (!st.ok()) return util::Internal("building " + st.message());
  std::string out;
  out.reserve(kHeaderSize + 64);
  out.resize(kHeaderSize);
  fields_.EncodeTo(&out);
  std::string header;
  PutU32(&header, static_cast<uint32_t>(out.size() - kHeaderSize));
  PutU16(&header, static_cast<uint16_t>(type_));
  PutU16(&header, 0);
  PutU32(&header, request_id_);
  std::memcpy(out.data(), header.data(), kHeaderSize);
  return out;
}

util::Result<std::string> Message::EncodeHead(Tag data_tag, size_t data_size) const {
  const Schema* schema = SchemaFor(type_);
  if (!schema) return util::Internal("encoding a message of unknown type");
  const FieldSpec* spec = schema->Find(data_tag);
  if (!spec || spec->kind != Kind::kBytes || data_size > spec->max_len) {
    return util::Internal(std::string("building ") + schema->name + ": data field does not fit");
  }
  Fields check;
  check.items_ = fields_.items_;
  check.items_.push_back({data_tag, std::string_view()});
  util::Status st = ValidateFields(check, *schema);
  if (!st.ok()) return util::Internal("building " + st.message());
  std::string out(kHeaderSize, '\0');
  fields_.EncodeTo(&out);
  uint32_t payload = static_cast<uint32_t>(out.size() - kHeaderSize + 6 + data_size);
  std::string header;
  PutU32(&header, payload);
  PutU16(&header, static_cast<uint16_t>(type_));
  PutU16(&header, 0);
  PutU32(&header, request_id_);
  std::memcpy(out.data(), header.data(), kHeaderSize);
  PutU16(&out, static_cast<uint16_t>(data_tag));
  PutU32(&out, static_cast<uint32_t>(data_size));
  return out;
}

util::Result<size_t> DecodeFrame(std::string_view data, size_t max_payload, Message* out) {
  if (data.size() < kHeaderSize) return size_t{0};
  uint32_t len = GetU32(data.data());
  auto type = static_cast<Type>(GetU16(data.data() + 4));
  uint16_t flags = GetU16(data.data() + 6);
  uint32_t request_id = GetU32(data.data() + 8);
  const Schema* schema = SchemaFor(type);
  // Reject on the header alone, before buffering a hostile length.
  if (!schema) return InvalidArgument("unknown message type " + std::to_string(GetU16(data.data() + 4)));
  if (flags != 0) return InvalidArgument("unknown frame flags");
  if (len > max_payload) {
    return InvalidArgument(std::string(schema->name) + " frame of " + std::to_string(len) +
                           " bytes exceeds the limit of " + std::to_string(max_payload));
  }
  if (data.size() - kHeaderSize < len) return size_t{0};
  auto storage = std::make_shared<std::string>(data.substr(kHeaderSize, len));
  Message m(type, request_id);
  util::Status st = DecodeFields(*storage, *schema, &m.fields_);
  if (!st.ok()) return st;
  m.storage_ = std::move(storage);
  *out = std::move(m);
  return kHeaderSize + len;
}

}  // namespace mailrelay::ipc
