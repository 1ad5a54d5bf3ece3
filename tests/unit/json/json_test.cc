#include "common/json/json.h"

#include <random>

#include <gtest/gtest.h>

#include "common/util/file.h"

namespace mailrelay::json {
namespace {

TEST(Json, ParsesScalarsAndNesting) {
  auto v = Parse(R"( {"a": 1, "b": [true, false, null, -2.5e1, "x\u00e9\ud83d\ude00"], "c": {}} )");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)["a"].as_int(), 1);
  EXPECT_TRUE((*v)["b"][0].as_bool());
  EXPECT_TRUE((*v)["b"][2].is_null());
  EXPECT_DOUBLE_EQ((*v)["b"][3].as_double(), -25.0);
  EXPECT_EQ((*v)["b"][4].as_string(), "x\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE((*v)["c"].is_object());
  EXPECT_TRUE((*v)["missing"].is_null());
  EXPECT_TRUE((*v)["b"][99].is_null());
}

TEST(Json, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"a",
                          "[1] x", "{\"a\":1,}", "\"\\ud800\"", "nul", "\"\x01\"", "\"\xff\"",
                          "1e", "[\"\xc0\xaf\"]"}) {
    EXPECT_FALSE(Parse(bad).ok()) << bad;
  }
}

TEST(Json, DepthAndSizeLimits) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(Parse(deep).ok());
  EXPECT_TRUE(Parse(deep, {.max_depth = 200}).ok());
  EXPECT_FALSE(Parse("[1,2,3]", {.max_depth = 64, .max_size = 3}).ok());
}

TEST(Json, SerializeRoundTripsAndEscapes) {
  Value o = Value::MakeObject();
  o.Set("s", "quote\" back\\ nl\n ctl\x01 bad\xff");
  o.Set("n", int64_t{1} << 40);
  o.Set("d", 0.5);
  Value arr = Value::MakeArray();
  arr.Append(1);
  arr.Append(Value());
  o.Set("a", arr);
  std::string text = o.Serialize();
  EXPECT_EQ(text,
            "{\"s\":\"quote\\\" back\\\\ nl\\n ctl\\u0001 bad\xef\xbf\xbd\",\"n\":1099511627776,"
            "\"d\":0.5,\"a\":[1,null]}");
  auto back = Parse(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Serialize(), text);
  EXPECT_EQ(Parse(o.Serialize(true))->Serialize(), text);
}

TEST(Json, CopiesAreIndependent) {
  Value a = Value::MakeObject();
  a.Set("x", 1);
  Value b = a;
  b.Set("x", 2);
  EXPECT_EQ(a["x"].as_int(), 1);
  EXPECT_EQ(b["x"].as_int(), 2);
}

TEST(Json, ParsesTheMimeManifest) {
  auto text = util::ReadFile(std::string(MAILRELAY_TESTDATA_DIR) + "/mime/manifest.json");
  ASSERT_TRUE(text.ok());
  auto v = Parse(*text);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)["count"].as_int(), 26);
  EXPECT_EQ((*v)["messages"].size(), 26u);
}

TEST(Json, RandomGarbageNeverCrashes) {
  std::mt19937 rng(42);
  const std::string alphabet = "{}[]\",:0123456789.eE+-tfnulrs\\u \x80\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    size_t len = rng() % 40;
    for (size_t k = 0; k < len; ++k) s.push_back(alphabet[rng() % alphabet.size()]);
    auto r = Parse(s);
    if (r.ok()) {
      EXPECT_TRUE(Parse(r->Serialize()).ok()) << s;
    }
  }
}

}  // namespace
}  // namespace mailrelay::json
