// Every message of the MIME fidelity corpus (tests/data/mime) parsed and compared, field by
// field, with what manifest.json says a faithful parser must produce.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/json/json.h"
#include "common/mime/parser.h"
#include "common/util/base64.h"
#include "common/util/crypto.h"
#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::mime {
namespace {

const std::string kCorpusDir = std::string(MAILRELAY_TESTDATA_DIR) + "/mime/";

const json::Value& Manifest() {
  static const json::Value manifest = [] {
    auto text = util::ReadFile(kCorpusDir + "manifest.json");
    if (!text.ok()) return json::Value();
    auto v = json::Parse(*text);
    return v.ok() ? *v : json::Value();
  }();
  return manifest;
}

std::vector<int> EntryIndices() {
  std::vector<int> out;
  for (size_t i = 0; i < Manifest()["messages"].size(); ++i) out.push_back(static_cast<int>(i));
  return out;
}

std::string Sha256Hex(std::string_view data) { return util::HexEncode(util::Sha256(data)); }

// Values rendered the way the manifest writes them, so a mismatch prints both sides in JSON.
json::Value OptJson(const std::optional<std::string>& v) {
  return v ? json::Value(*v) : json::Value();
}

json::Value MailboxesJson(const std::vector<Mailbox>& list) {
  json::Value out = json::Value::MakeArray();
  for (const Mailbox& m : list) {
    json::Value o = json::Value::MakeObject();
    o.Set("name", m.name);
    o.Set("address", m.address);
    out.Append(std::move(o));
  }
  return out;
}

std::optional<std::string> ParamOf(const Entity& e, std::string_view name) {
  const std::string* v = e.content_type.params.Get(name);
  if (!v) return std::nullopt;
  return util::ToLower(*v);
}

std::string Pretty(const json::Value& v) { return v.Serialize(); }

#define EXPECT_JSON_EQ(want, got) EXPECT_EQ(Pretty(want), Pretty(got))

class CorpusTest : public ::testing::TestWithParam<int> {
 protected:
  const json::Value& Entry() const {
    return Manifest()["messages"][static_cast<size_t>(GetParam())];
  }
};

TEST(Corpus, ManifestLoadsAndListsEveryFile) {
  ASSERT_TRUE(Manifest().is_object()) << "cannot read " << kCorpusDir << "manifest.json";
  EXPECT_EQ(Manifest()["format"].as_string(), "mailrelay-mime-corpus/1");
  EXPECT_EQ(Manifest()["messages"].size(), 26u);
  EXPECT_EQ(Manifest()["count"].as_int(), 26);
}

TEST_P(CorpusTest, MatchesManifest) {
  const json::Value& e = Entry();
  const std::string file = e["file"].as_string();
  SCOPED_TRACE(file);
  auto raw = util::ReadFile(kCorpusDir + file);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  ASSERT_EQ(raw->size(), static_cast<size_t>(e["size"].as_int()));
  ASSERT_EQ(Sha256Hex(*raw), e["sha256"].as_string()) << "corpus file changed";

  ParsedMessage m = ParseMessage(*raw);

  // Headers.
  json::Value names = json::Value::MakeArray();
  for (const HeaderField& f : m.headers.fields) names.Append(f.name);
  EXPECT_JSON_EQ(e["header_names"], names);
  json::Value dups = json::Value::MakeObject();
  for (const HeaderField& f : m.headers.fields) {
    size_t n = m.headers.Count(f.name);
    if (n > 1 && !dups.Find(f.name)) dups.Set(f.name, static_cast<int64_t>(n));
  }
  EXPECT_JSON_EQ(e["duplicate_headers"], dups);

  EXPECT_JSON_EQ(e["subject"], OptJson(m.subject));
  EXPECT_JSON_EQ(e["date"], OptJson(m.date));
  EXPECT_JSON_EQ(e["message_id"], OptJson(m.message_id));
  EXPECT_JSON_EQ(e["from"], MailboxesJson(m.from));
  EXPECT_JSON_EQ(e["to"], MailboxesJson(m.to));
  EXPECT_JSON_EQ(e["cc"], MailboxesJson(m.cc));
  EXPECT_JSON_EQ(e["bcc"], MailboxesJson(m.bcc));
  EXPECT_JSON_EQ(e["reply_to"], MailboxesJson(m.reply_to));

  json::Value groups = json::Value::MakeArray();
  for (const auto& [header, g] : m.groups) {
    json::Value o = json::Value::MakeObject();
    o.Set("header", header);
    o.Set("name", g.name);
    json::Value addrs = json::Value::MakeArray();
    for (const Mailbox& mb : g.members) addrs.Append(mb.address);
    o.Set("addresses", std::move(addrs));
    groups.Append(std::move(o));
  }
  EXPECT_JSON_EQ(e["groups"], groups);

  json::Value custom = json::Value::MakeArray();
  for (const auto& [name, value] : m.custom_headers) {
    json::Value pair = json::Value::MakeArray();
    pair.Append(name);
    pair.Append(value);
    custom.Append(std::move(pair));
  }
  EXPECT_JSON_EQ(e["custom_headers"], custom);

  // Structure and bodies.
  const bool has_content_type = m.headers.Find("Content-Type") != nullptr;
  if (e["mime_tree"].is_null()) {
    EXPECT_FALSE(has_content_type);
  } else {
    EXPECT_EQ(e["mime_tree"].as_string(), DescribeTree(m.tree));
  }
  EXPECT_TRUE(m.tree.defects.empty()) << m.tree.defects.front();

  EXPECT_JSON_EQ(e["text"], OptJson(m.text));
  EXPECT_JSON_EQ(e["html"], OptJson(m.html));
  auto declared = [&](int part, std::string_view what) -> json::Value {
    if (part < 0) return json::Value();
    const Entity& ent = m.tree.entities[static_cast<size_t>(part)];
    if (what == "charset") return OptJson(ParamOf(ent, "charset"));
    return OptJson(ent.transfer_encoding);
  };
  EXPECT_JSON_EQ(e["text_charset"], declared(m.text_part, "charset"));
  EXPECT_JSON_EQ(e["html_charset"], declared(m.html_part, "charset"));
  EXPECT_JSON_EQ(e["text_transfer_encoding"], declared(m.text_part, "cte"));
  EXPECT_JSON_EQ(e["html_transfer_encoding"], declared(m.html_part, "cte"));

  // Attachments, in order, every field.
  const json::Value& want = e["attachments"];
  ASSERT_EQ(want.size(), m.attachments.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("attachment " + std::to_string(i));
    const json::Value& w = want[i];
    const Attachment& a = m.attachments[i];
    EXPECT_JSON_EQ(w["filename"], OptJson(a.filename));
    EXPECT_EQ(w["content_type"].as_string(), a.content_type);
    std::map<std::string, std::string> want_params, got_params;
    for (const auto& [k, v] : w["params"].as_object()) want_params[k] = v.as_string();
    for (const Parameter& p : a.params) got_params[p.name] = p.value;
    EXPECT_EQ(want_params, got_params);
    EXPECT_EQ(static_cast<size_t>(w["size"].as_int()), a.data.size());
    EXPECT_EQ(w["sha256"].as_string(), Sha256Hex(a.data));
    EXPECT_EQ(w["inline"].as_bool(), a.is_inline);
    EXPECT_JSON_EQ(w["content_id"], OptJson(a.content_id));
    EXPECT_JSON_EQ(w["disposition"], OptJson(a.disposition));
    EXPECT_JSON_EQ(w["transfer_encoding"], OptJson(a.transfer_encoding));

    if (const json::Value* emb = w.Find("embedded")) {
      // The forwarded message parsed on its own; none of it may leak into the outer one.
      ParsedMessage inner = ParseMessage(a.data);
      EXPECT_JSON_EQ((*emb)["from"], MailboxesJson(inner.from));
      EXPECT_JSON_EQ((*emb)["subject"], OptJson(inner.subject));
      EXPECT_JSON_EQ((*emb)["text"], OptJson(inner.text));
      EXPECT_JSON_EQ((*emb)["message_id"], OptJson(inner.message_id));
      EXPECT_EQ(static_cast<size_t>((*emb)["attachments"].as_int()), inner.attachments.size());
      EXPECT_NE(inner.subject, m.subject);
      EXPECT_NE(inner.message_id, m.message_id);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Manifest, CorpusTest, ::testing::ValuesIn(EntryIndices()),
    [](const ::testing::TestParamInfo<int>& info) {
      std::string name =
          Manifest()["messages"][static_cast<size_t>(info.param)]["file"].as_string();
      name = name.substr(0, name.find('.'));
      for (char& c : name) {
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return "m" + name;
    });

}  // namespace
}  // namespace mailrelay::mime
