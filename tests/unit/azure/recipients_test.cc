// deliver-azure's envelope -> to/cc/bcc split and the 50-per-request batches.

#include "deliver-azure/recipients.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/mime/address_list.h"

namespace mailrelay::azure {
namespace {

std::vector<agent::JobRecipient> Envelope(const std::vector<std::string>& addresses) {
  std::vector<agent::JobRecipient> out;
  for (size_t i = 0; i < addresses.size(); ++i) out.push_back({static_cast<int>(i) + 10, addresses[i]});
  return out;
}

std::vector<std::string> Field(const std::vector<AcsRecipient>& list, RecipientField f) {
  std::vector<std::string> out;
  for (const auto& r : list) {
    if (r.field == f) out.push_back(r.address);
  }
  return out;
}

TEST(Recipients, ToCcAndEnvelopeOnlyBcc) {
  auto to = mime::ParseAddressList("Bob <bob@example.com>, \"Team: A\": carol@example.com;").mailboxes;
  auto cc = mime::ParseAddressList("Dave <DAVE@example.com>").mailboxes;
  auto r = ClassifyRecipients(to, cc,
                              Envelope({"hidden@example.net", "dave@example.com", "bob@example.com", "carol@example.com"}));
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(Field(r, RecipientField::kTo), (std::vector<std::string>{"bob@example.com", "carol@example.com"}));
  EXPECT_EQ(Field(r, RecipientField::kCc), (std::vector<std::string>{"dave@example.com"}));
  EXPECT_EQ(Field(r, RecipientField::kBcc), (std::vector<std::string>{"hidden@example.net"}));
  // Ordered to, cc, bcc; display names from the headers, the envelope's spelling of the address.
  EXPECT_EQ(r[0].display_name, "Bob");
  EXPECT_EQ(r[2].display_name, "Dave");
  EXPECT_EQ(r[2].address, "dave@example.com");
  EXPECT_EQ(r[3].display_name, "");
  EXPECT_EQ(r[3].indexes, std::vector<int>{10});
}

TEST(Recipients, HeaderOnlyAddressesAreNeverSentTo) {
  auto to = mime::ParseAddressList("a@example.com, notinenvelope@example.com").mailboxes;
  auto cc = mime::ParseAddressList("alsonot@example.com").mailboxes;
  auto r = ClassifyRecipients(to, cc, Envelope({"a@example.com"}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].address, "a@example.com");
  EXPECT_EQ(r[0].field, RecipientField::kTo);
}

TEST(Recipients, ToBeatsCcAndDuplicatesShareOneEntry) {
  auto to = mime::ParseAddressList("x@example.com").mailboxes;
  auto cc = mime::ParseAddressList("x@example.com, y@example.com").mailboxes;
  auto r = ClassifyRecipients(to, cc, Envelope({"x@example.com", "X@Example.com", "y@example.com"}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].field, RecipientField::kTo);
  EXPECT_EQ(r[0].indexes, (std::vector<int>{10, 11}));
  EXPECT_EQ(r[1].field, RecipientField::kCc);
}

TEST(Recipients, BccOnlyMessage) {
  auto r = ClassifyRecipients({}, {}, Envelope({"a@example.com", "b@example.com"}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(Field(r, RecipientField::kBcc).size(), 2u);
  auto b = SplitIntoBatches(r);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].Count(RecipientField::kTo), 0u);
}

TEST(Recipients, FiftyPerBatch) {
  std::vector<std::string> env;
  std::string to_header;
  for (int i = 0; i < 120; ++i) {
    env.push_back("r" + std::to_string(i) + "@example.com");
    if (i % 3 == 0) to_header += (to_header.empty() ? "" : ", ") + env.back();
  }
  auto r = ClassifyRecipients(mime::ParseAddressList(to_header).mailboxes, {}, Envelope(env));
  auto b = SplitIntoBatches(r);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].recipients.size(), 50u);
  EXPECT_EQ(b[1].recipients.size(), 50u);
  EXPECT_EQ(b[2].recipients.size(), 20u);
  EXPECT_EQ(b[0].Count(RecipientField::kTo), 40u);  // the 40 To recipients come first
  size_t total = 0;
  for (const auto& batch : b) total += batch.recipients.size();
  EXPECT_EQ(total, 120u);
  EXPECT_EQ(SplitIntoBatches(r, 50).size(), 3u);
  EXPECT_EQ(SplitIntoBatches(r, 0).size(), 120u);  // at least one per batch
  EXPECT_TRUE(SplitIntoBatches({}).empty());
}

TEST(Recipients, BatchKeyIsOrderAndCaseIndependent) {
  RecipientBatch a, b;
  a.recipients = {{"B@x.com", "", RecipientField::kTo, {1}}, {"a@x.com", "", RecipientField::kBcc, {2}}};
  b.recipients = {{"a@x.com", "", RecipientField::kCc, {7}}, {"b@x.com", "", RecipientField::kTo, {8}}};
  EXPECT_EQ(a.Key(), b.Key());
  EXPECT_EQ(a.Key(), "a@x.com\nb@x.com");
}

}  // namespace
}  // namespace mailrelay::azure
