// The spool: the only code that touches spool_dir/queue.db (SQLite, WAL, synchronous=FULL).
// Writes join one open transaction; Commit() makes everything since the last commit durable
// at once (group commit: qmgr commits once per loop iteration, so concurrent injections
// share one fsync). Runs on qmgr's loop thread. Corruption or an unknown newer schema is a
// fatal error for qmgr: it never starts on an empty queue by accident.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"
#include "qmgr/model.h"

namespace mailrelay::qmgr {

inline constexpr int kSchemaVersion = 3;

class Spool {
 public:
  // Opens or creates dir/queue.db, migrates an older schema in place, refuses a newer one.
  static util::Result<std::unique_ptr<Spool>> Open(const std::string& dir);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Start-up: drops messages whose injection never completed and body rows without a message.
  util::Status Recover();

  // Writes; each joins the open transaction (beginning one if needed).
  util::Status InsertMessage(Message* m, std::string_view body);  // complete, assigns rowid
  util::Status InsertIncomplete(Message* m);                      // first part of a big message
  util::Status AppendBody(int64_t rowid, int seq, std::string_view data);
  util::Status CompleteMessage(const Message& m);                 // recipients + complete flag
  util::Status UpdateRecipient(int64_t rowid, const Recipient& r);
  util::Status SetHeld(int64_t rowid, bool held);
  // Hold flag, its reason and the agent-crash count together.
  util::Status UpdateMessageState(const Message& m);
  util::Status DeleteMessage(int64_t rowid);
  util::Status AppendSendLog(const SendLogEntry& e);
  util::Status PruneSendLog(int64_t before);

  bool in_transaction() const { return in_txn_; }
  // Commits the open transaction. The commit itself does not wait for the disk: the data is
  // durable only once a SyncWal() that started after it returns (CommitTracker does that on
  // its syncer thread, and acknowledges nothing before). On failure everything since the
  // last commit is rolled back and the caller must treat it as never written.
  util::Status Commit();
  // fdatasync of the WAL: makes every commit before the call durable. Thread-safe.
  util::Status SyncWal();

  // Reads.
  util::Result<std::vector<Message>> LoadAll();
  util::Result<std::string> LoadBody(int64_t rowid);
  util::Result<std::vector<SendLogEntry>> ReadSendLog(int64_t since, int limit);
  std::string path() const { return path_; }
  int schema_version() const { return schema_version_; }
  // Bytes of free pages inside queue.db (left by delivered messages): SQLite fills them
  // before it grows the file, and never gives them back to the file system.
  uint64_t FreeBytesInside();

  // Checkpoints run on their own thread and connection, so the loop never waits for the
  // database file's write-back and fsync; commits only append to the WAL and fsync it.
  util::Status StartCheckpointer();
  void StopCheckpointer();  // and checkpoints everything (clean shutdown)
  uint64_t checkpoints() const { return checkpoints_.load(); }

 private:
  Spool(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  void CheckpointLoop(sqlite3* db);
  util::Status Exec(const char* sql);
  util::Status InsertRow(Message* m, bool complete);
  util::Status Begin();
  util::Status Migrate();
  util::Status Error(const std::string& what) const;
  sqlite3_stmt* Prepare(const char* sql);

  sqlite3* db_;
  std::string path_;
  bool in_txn_ = false;
  bool fresh_ = false;  // created by this Open()
  int schema_version_ = 0;
  std::atomic<int> wal_fd_{-1};
  std::vector<std::pair<std::string, sqlite3_stmt*>> stmts_;

  std::thread checkpointer_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_stop_ = false;
  bool ckpt_wanted_ = false;
  bool ckpt_dirty_ = false;  // something was committed since the last checkpoint
  std::atomic<uint64_t> checkpoints_{0};
};

}  // namespace mailrelay::qmgr
