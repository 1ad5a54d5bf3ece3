#include "common/mime/edit.h"

#include <algorithm>
#include <cstdint>

#include "common/util/strings.h"


namespace mailrelay::mime {

namespace {

constexpr size_t kSoftLimit = 78;   // RFC 5322 "SHOULD"
constexpr size_t kHardLimit = 998;  // RFC 5322 "MUST", line end not counted
constexpr size_t kMaxNameLength = 200;

std::string CleanValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    auto u = static_cast<uint8_t>(c);
    out.push_back((u < 0x20 && c != '\t') || u == 0x7f ? ' ' : c);
  }
  return std::string(util::Trim(out));
}

util::Status CheckName(std::string_view name) {
  if (!IsValidFieldName(name) || name.size() > kMaxNameLength) {
    return util::InvalidArgument("invalid header field name '" + util::Printable(name) + "'");
  }
  return util::Status::Ok();
}

}  // namespace

std::string FoldField(std::string_view name, std::string_view value, std::string_view eol) {
  std::string clean = CleanValue(value);
  std::string out(name);
  out.push_back(':');
  size_t line_len = out.size();
  std::string_view v = clean;
  size_t i = 0;
  bool first = true;
  while (i < v.size()) {
    // A chunk is the whitespace before a word plus the word; the first gets one space.
    size_t word_begin = i;
    while (word_begin < v.size() && util::IsBlank(v[word_begin])) ++word_begin;
    size_t word_end = word_begin;
    while (word_end < v.size() && !util::IsBlank(v[word_end])) ++word_end;
    std::string_view space = first ? std::string_view(" ") : v.substr(i, word_begin - i);
    std::string_view word = v.substr(word_begin, word_end - word_begin);
    first = false;
    i = word_end;
    if (line_len + space.size() + word.size() > kSoftLimit && line_len > name.size() + 1) {
      out.append(eol);  // fold: the chunk's whitespace starts the continuation line
      line_len = 0;
    }
    if (line_len + space.size() >= kHardLimit) space = " ";  // absurd whitespace runs
    out.append(space);
    line_len += space.size();
    while (line_len + word.size() > kHardLimit) {
      size_t room = line_len < kHardLimit ? kHardLimit - line_len : 0;
      // Cut between UTF-8 characters; bytes that are no UTF-8 at all are cut anywhere.
      size_t take = room;
      while (take > 0 && (static_cast<uint8_t>(word[take]) & 0xc0) == 0x80) --take;
      if (take == 0 && line_len <= 1) take = room;
      out.append(word.substr(0, take));
      word.remove_prefix(take);
      out.append(eol);
      out.push_back(' ');
      line_len = 1;
    }
    out.append(word);
    line_len += word.size();
  }
  out.append(eol);
  return out;
}

HeaderEditor::HeaderEditor(std::string_view message) {
  MessageSections sec = SplitMessage(message);
  header_ = sec.header;
  separator_ = sec.separator;
  body_ = sec.body;
  size_t nl = header_.find('\n');
  if (nl != std::string_view::npos && (nl == 0 || header_[nl - 1] != '\r')) eol_ = "\n";
  if (header_.empty() && separator_ == "\n") eol_ = "\n";
  FieldScanner scanner(header_);
  FieldView view;
  while (scanner.Next(&view)) {
    // A name longer than 4 GB cannot exist in a message we would ever hold; clamp anyway.
    uint32_t name_size =
        view.name.size() > UINT32_MAX ? 0 : static_cast<uint32_t>(view.name.size());
    fields_.push_back({view.offset, view.size, name_size, -1});
  }
}

std::string_view HeaderEditor::Name(const Field& f) const {
  if (f.added >= 0) return added_[static_cast<size_t>(f.added)].first;
  return header_.substr(f.offset, f.name_size);
}

bool HeaderEditor::Named(const Field& f, std::string_view name) const {
  std::string_view n = Name(f);
  return !n.empty() && util::EqualsIgnoreCase(n, name);
}

size_t HeaderEditor::Remove(std::string_view name) {
  size_t kept = 0;
  for (size_t k = 0; k < fields_.size(); ++k) {
    if (!Named(fields_[k], name)) fields_[kept++] = fields_[k];
  }
  size_t removed = fields_.size() - kept;
  fields_.resize(kept);
  return removed;
}

util::Status HeaderEditor::Insert(size_t position, std::string_view name, std::string_view value) {
  MR_RETURN_IF_ERROR(CheckName(name));
  added_.emplace_back(std::string(name), FoldField(name, value, eol_));
  Field f{0, 0, 0, static_cast<int32_t>(added_.size() - 1)};
  fields_.insert(fields_.begin() + static_cast<std::ptrdiff_t>(position), f);
  return util::Status::Ok();
}

util::Status HeaderEditor::Add(std::string_view name, std::string_view value) {
  return Insert(fields_.size(), name, value);
}

util::Status HeaderEditor::Prepend(std::string_view name, std::string_view value) {
  return Insert(0, name, value);
}

util::Status HeaderEditor::Replace(std::string_view name, std::string_view value) {
  MR_RETURN_IF_ERROR(CheckName(name));
  size_t position = 0;
  while (position < fields_.size() && !Named(fields_[position], name)) ++position;
  // The fields before `position` keep their places, so it stays right after the removal
  // (or becomes the end if there was no such field).
  Remove(name);
  return Insert(std::min(position, fields_.size()), name, value);
}

size_t HeaderEditor::Count(std::string_view name) const {
  size_t n = 0;
  for (const auto& f : fields_) {
    if (Named(f, name)) ++n;
  }
  return n;
}

std::string HeaderEditor::Render() const {
  size_t size = separator_.size() + body_.size();
  for (const auto& f : fields_) {
    size +=
        (f.added >= 0 ? added_[static_cast<size_t>(f.added)].second.size() : f.size) + eol_.size();
  }
  std::string out;
  out.reserve(size);
  for (const auto& f : fields_) {
    // A field that ended the input without a line end gets one before anything follows.
    if (!out.empty() && out.back() != '\n') out.append(eol_);
    if (f.added >= 0) {
      out.append(added_[static_cast<size_t>(f.added)].second);
    } else {
      out.append(header_.substr(f.offset, f.size));
    }
  }
  if (!separator_.empty() && !out.empty() && out.back() != '\n') out.append(eol_);
  out.append(separator_);
  out.append(body_);
  return out;
}

}  // namespace mailrelay::mime
