#include "common/mime/header.h"

#include "common/util/strings.h"


namespace mailrelay::mime {

namespace {

// One physical line: [begin, content_end) is the text, [content_end, end) its line end.
struct Line {
  size_t begin;
  size_t content_end;
  size_t end;
};

Line NextLine(std::string_view s, size_t pos) {
  size_t nl = s.find('\n', pos);
  if (nl == std::string_view::npos) {
    size_t ce = s.size();
    if (ce > pos && s[ce - 1] == '\r') --ce;
    return {pos, ce, s.size()};
  }
  size_t ce = nl;
  if (ce > pos && s[ce - 1] == '\r') --ce;
  return {pos, ce, nl + 1};
}

}  // namespace

MessageSections SplitMessage(std::string_view message) {
  MessageSections out;
  size_t pos = 0;
  while (pos < message.size()) {
    Line line = NextLine(message, pos);
    if (line.content_end == line.begin) {
      out.header = message.substr(0, pos);
      out.separator = message.substr(pos, line.end - pos);
      out.body_offset = line.end;
      out.body = message.substr(line.end);
      return out;
    }
    pos = line.end;
  }
  out.header = message;
  out.body_offset = message.size();
  out.body = message.substr(message.size());
  return out;
}

bool IsValidFieldName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || c == ':') return false;
  }
  return true;
}

std::string Unfold(std::string_view raw_value) {
  std::string out;
  out.reserve(raw_value.size());
  for (char c : raw_value) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  std::string_view t = util::Trim(out);
  return std::string(t);
}

std::string HeaderField::Unfolded() const { return Unfold(value); }

bool FieldScanner::Next(FieldView* field) {
  if (pos_ >= header_.size()) return false;
  Line first = NextLine(header_, pos_);
  std::string_view text = header_.substr(first.begin, first.content_end - first.begin);
  size_t value_begin = first.begin;
  field->name = {};
  // A line starting with whitespace here has no field to continue: it is malformed.
  if (text.empty() || !util::IsBlank(text[0])) {
    size_t colon = text.find(':');
    std::string_view candidate =
        colon == std::string_view::npos ? std::string_view() : text.substr(0, colon);
    while (!candidate.empty() && util::IsBlank(candidate.back())) candidate.remove_suffix(1);
    if (IsValidFieldName(candidate)) {
      field->name = candidate;
      value_begin = first.begin + colon + 1;
    }
  }
  size_t value_end = first.content_end;
  size_t end = first.end;
  while (end < header_.size() && util::IsBlank(header_[end])) {  // folds continue the field
    Line fold = NextLine(header_, end);
    value_end = fold.content_end;
    end = fold.end;
  }
  field->value = header_.substr(value_begin, value_end - value_begin);
  field->offset = first.begin;
  field->size = end - first.begin;
  pos_ = end;
  return true;
}

HeaderList ParseHeaderSection(std::string_view header, size_t max_fields) {
  HeaderList list;
  FieldScanner scanner(header);
  FieldView view;
  while (true) {
    size_t pos = scanner.position();
    if (pos < header.size() && list.fields.size() + 1 >= max_fields) {
      // Everything left is one malformed field: kept for editing, invisible to lookups.
      HeaderField rest;
      std::string_view tail = header.substr(pos);
      rest.offset = pos;
      rest.size = tail.size();
      while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.remove_suffix(1);
      rest.value.assign(tail);
      list.fields.push_back(std::move(rest));
      break;
    }
    if (!scanner.Next(&view)) break;
    HeaderField f;
    f.name.assign(view.name);
    f.value.assign(view.value);
    f.offset = view.offset;
    f.size = view.size;
    list.fields.push_back(std::move(f));
  }
  return list;
}

const HeaderField* HeaderList::Find(std::string_view name) const {
  for (const auto& f : fields) {
    if (!f.name.empty() && util::EqualsIgnoreCase(f.name, name)) return &f;
  }
  return nullptr;
}

std::vector<const HeaderField*> HeaderList::FindAll(std::string_view name) const {
  std::vector<const HeaderField*> out;
  for (const auto& f : fields) {
    if (!f.name.empty() && util::EqualsIgnoreCase(f.name, name)) out.push_back(&f);
  }
  return out;
}

size_t HeaderList::Count(std::string_view name) const {
  size_t n = 0;
  for (const auto& f : fields) {
    if (!f.name.empty() && util::EqualsIgnoreCase(f.name, name)) ++n;
  }
  return n;
}

std::optional<std::string> HeaderList::Get(std::string_view name) const {
  const HeaderField* f = Find(name);
  if (!f) return std::nullopt;
  return f->Unfolded();
}

}  // namespace mailrelay::mime
