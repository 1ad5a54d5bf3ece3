// The spool on real SQLite files: round trips, recovery, and every refusal to start.
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "qmgr/spool.h"

namespace mailrelay::qmgr {
namespace {

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mr-spool-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  Message Sample(const std::string& id) {
    Message m;
    m.queue_id = id;
    m.sender = "s@example.org";
    m.arrival = 1700000000;
    m.size = 11;
    m.client = "[127.0.0.1]:1";
    m.subject = "subj";
    for (int i = 0; i < 2; ++i) {
      Recipient r;
      r.idx = i;
      r.address = "r" + std::to_string(i) + "@example.com";
      r.next_attempt = 1700000000;
      m.recipients.push_back(r);
    }
    return m;
  }
  std::string dir_;
};

TEST_F(SpoolTest, RoundTripSurvivesReopen) {
  {
    auto s = Spool::Open(dir_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Message m = Sample("AAAA");
    std::string body(3 << 20, 'x');  // several 1 MiB chunks
    body += "tail";
    ASSERT_TRUE((*s)->InsertMessage(&m, body).ok());
    m.recipients[1].attempts = 2;
    m.recipients[1].last_text = "busy";
    ASSERT_TRUE((*s)->UpdateRecipient(m.rowid, m.recipients[1]).ok());
    ASSERT_TRUE((*s)->Commit().ok());
  }
  auto s = Spool::Open(dir_);
  ASSERT_TRUE(s.ok());
  auto all = (*s)->LoadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  const Message& m = (*all)[0];
  EXPECT_EQ(m.queue_id, "AAAA");
  EXPECT_EQ(m.subject, "subj");
  ASSERT_EQ(m.recipients.size(), 2u);
  EXPECT_EQ(m.recipients[1].attempts, 2);
  EXPECT_EQ(m.recipients[1].last_text, "busy");
  auto body = (*s)->LoadBody(m.rowid);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->size(), (3u << 20) + 4);
  EXPECT_EQ(body->substr(body->size() - 4), "tail");
}

TEST_F(SpoolTest, UncommittedWorkIsGoneAfterACrash) {
  {
    auto s = Spool::Open(dir_);
    Message m = Sample("BBBB");
    ASSERT_TRUE((*s)->InsertMessage(&m, "hello").ok());
    // No Commit(): the process "dies" here.
  }
  auto s = Spool::Open(dir_);
  EXPECT_EQ((*s)->LoadAll()->size(), 0u);
}

TEST_F(SpoolTest, RecoverDropsIncompleteMessages) {
  {
    auto s = Spool::Open(dir_);
    Message big = Sample("CCCC");
    ASSERT_TRUE((*s)->InsertIncomplete(&big).ok());
    ASSERT_TRUE((*s)->AppendBody(big.rowid, 0, "part").ok());
    Message done = Sample("DDDD");
    ASSERT_TRUE((*s)->InsertMessage(&done, "whole").ok());
    ASSERT_TRUE((*s)->Commit().ok());
  }
  auto s = Spool::Open(dir_);
  ASSERT_TRUE((*s)->Recover().ok());
  auto all = (*s)->LoadAll();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].queue_id, "DDDD");
  sqlite3* db;
  sqlite3_open((dir_ + "/queue.db").c_str(), &db);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM body", -1, &st, nullptr);
  sqlite3_step(st);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);  // only the complete message's body is left
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SpoolTest, UsesWalAndFullSync) {
  auto s = Spool::Open(dir_);
  ASSERT_TRUE(s.ok());
  sqlite3* db;
  sqlite3_open((dir_ + "/queue.db").c_str(), &db);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  sqlite3_step(st);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SpoolTest, RefusesANewerSchema) {
  { auto s = Spool::Open(dir_); }
  sqlite3* db;
  sqlite3_open((dir_ + "/queue.db").c_str(), &db);
  sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema_version'", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = Spool::Open(dir_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("schema version 99, newer than this qmgr"), std::string::npos);
}

TEST_F(SpoolTest, RefusesAForeignSqliteFileAndGarbage) {
  sqlite3* db;
  sqlite3_open((dir_ + "/queue.db").c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE other(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = Spool::Open(dir_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not a mailrelay queue"), std::string::npos);
  unlink((dir_ + "/queue.db").c_str());
  std::ofstream(dir_ + "/queue.db") << std::string(8192, 'G');
  s = Spool::Open(dir_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), util::Code::kDataLoss) << s.status().ToString();
  EXPECT_NE(s.status().message().find("will not start on a damaged queue"), std::string::npos);
}

TEST_F(SpoolTest, UpgradesAVersion1SpoolInPlace) {
  // tests/data/spool-v1.db was written by the version 1 schema with two queued messages.
  std::system(("cp " + std::string(MAILRELAY_TESTDATA_DIR) + "/spool-v1.db " + dir_ + "/queue.db").c_str());
  auto s = Spool::Open(dir_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->schema_version(), kSchemaVersion);
  auto all = (*s)->LoadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  const Message& m = (*all)[0];
  EXPECT_EQ(m.queue_id, "64000000000A");
  EXPECT_EQ(m.subject, "Queued before the upgrade");
  ASSERT_EQ(m.recipients.size(), 2u);
  EXPECT_EQ(m.recipients[0].attempts, 2);
  EXPECT_EQ(m.recipients[0].last_text, "busy");
  EXPECT_EQ(m.recipients[1].state, RcptState::kDelivered);
  EXPECT_FALSE(m.recipients[0].delay_warned);  // the new column's default
  EXPECT_EQ(m.hold_reason, "");
  EXPECT_TRUE((*all)[1].held);
  EXPECT_EQ(*(*s)->LoadBody(m.rowid), "Subject: Queued before the upgrade\r\nMessage-ID: <v1@example.org>\r\n\r\nstill here\r\n");
  EXPECT_EQ((*s)->ReadSendLog(0, 10)->size(), 1u);
  {
    // Version 3 keeps bodies in a rowid table (a WITHOUT ROWID table made big inserts slow).
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/queue.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name='body'", -1, &st, nullptr);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    std::string sql = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    EXPECT_EQ(sql.find("WITHOUT ROWID"), std::string::npos) << sql;
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  // The upgraded spool takes the new fields.
  Message changed = m;
  changed.held = true;
  changed.hold_reason = "test";
  ASSERT_TRUE((*s)->UpdateMessageState(changed).ok());
  ASSERT_TRUE((*s)->Commit().ok());
  s->reset();
  auto again = Spool::Open(dir_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*(*again)->LoadAll())[0].hold_reason, "test");
}

TEST_F(SpoolTest, SendLogIsWrittenReadAndPruned) {
  auto s = Spool::Open(dir_);
  for (int i = 0; i < 3; ++i) {
    SendLogEntry e;
    e.time = 1000 + i;
    e.queue_id = "Q" + std::to_string(i);
    e.status = "sent";
    ASSERT_TRUE((*s)->AppendSendLog(e).ok());
  }
  ASSERT_TRUE((*s)->PruneSendLog(1001).ok());
  ASSERT_TRUE((*s)->Commit().ok());
  auto log = (*s)->ReadSendLog(0, 100);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].queue_id, "Q1");
}

}  // namespace
}  // namespace mailrelay::qmgr
