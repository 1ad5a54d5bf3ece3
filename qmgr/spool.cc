#include "qmgr/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "common/util/strings.h"

namespace mailrelay::qmgr {

namespace {

// Version 1 of the spool. Later versions add steps to Migrate(); never edit this text, a
// v1 spool file in tests/data must keep upgrading.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE message (
  id INTEGER PRIMARY KEY,
  queue_id TEXT NOT NULL UNIQUE,
  complete INTEGER NOT NULL,
  sender TEXT NOT NULL,
  arrival INTEGER NOT NULL,
  size INTEGER NOT NULL,
  client TEXT NOT NULL DEFAULT '',
  helo TEXT NOT NULL DEFAULT '',
  auth_user TEXT NOT NULL DEFAULT '',
  protocol TEXT NOT NULL DEFAULT '',
  tls TEXT NOT NULL DEFAULT '',
  body_type TEXT NOT NULL DEFAULT '',
  smtputf8 INTEGER NOT NULL DEFAULT 0,
  message_id TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  held INTEGER NOT NULL DEFAULT 0,
  kind INTEGER NOT NULL DEFAULT 0,
  sealed_secret BLOB,
  idempotency_key TEXT NOT NULL DEFAULT ''
);
CREATE TABLE body (
  message INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (message, seq)
) WITHOUT ROWID;
CREATE TABLE recipient (
  message INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  address TEXT NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  backend TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  primary_deferrals INTEGER NOT NULL DEFAULT 0,
  on_fallback INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL DEFAULT 0,
  first_attempt INTEGER NOT NULL DEFAULT 0,
  last_attempt INTEGER NOT NULL DEFAULT 0,
  dispatched_at INTEGER NOT NULL DEFAULT 0,
  last_code INTEGER NOT NULL DEFAULT 0,
  last_enhanced TEXT NOT NULL DEFAULT '',
  last_text TEXT NOT NULL DEFAULT '',
  info TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (message, idx)
) WITHOUT ROWID;
CREATE TABLE send_log (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  queue_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  backend TEXT NOT NULL,
  status TEXT NOT NULL,
  reply TEXT NOT NULL
);
CREATE INDEX send_log_time ON send_log(time);
INSERT INTO meta(key, value) VALUES ('schema_version', '1');
)sql";

// Version 2: qmgr remembers why it held a message and how many agents died with it aboard
// (both were lost at a restart), and which recipients got a delay warning.
constexpr const char* kMigrateV2 = R"sql(
ALTER TABLE message ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE message ADD COLUMN agent_crashes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recipient ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
)sql";

// Version 3: bodies move from a WITHOUT ROWID table to a rowid table. In a WITHOUT ROWID
// table the blob lives in the primary-key b-tree, and every insert's key search read whole
// neighbouring bodies through their overflow pages to compare keys (an insert of a 1 MiB
// chunk copied megabytes). Now the blob is appended at the end of the table b-tree and only
// the small (message, seq) index is searched.
constexpr const char* kMigrateV3 = R"sql(
CREATE TABLE body_v3 (
  message INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (message, seq)
);
INSERT INTO body_v3(message, seq, data) SELECT message, seq, data FROM body ORDER BY message, seq;
DROP TABLE body;
ALTER TABLE body_v3 RENAME TO body;
UPDATE meta SET value = '3' WHERE key = 'schema_version';
)sql";

struct Migration {
  int to;
  const char* sql;
};
// Every step from the oldest supported schema, applied in order, each in its own transaction.
constexpr Migration kMigrations[] = {{2, kMigrateV2}, {3, kMigrateV3}};

class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt& Int(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); return *this; }
  Stmt& Text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, std::string_view v) {
    if (v.empty()) {
      sqlite3_bind_zeroblob(s_, i, 0);
    } else {
      sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    }
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }
  std::string ColText(int i) {
    const auto* p = sqlite3_column_text(s_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s_, i)))
             : std::string();
  }
  std::string ColBlob(int i) {
    const void* p = sqlite3_column_blob(s_, i);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s_, i)))
             : std::string();
  }
  bool ok() const { return s_ != nullptr; }

 private:
  sqlite3_stmt* s_;
};

}  // namespace

util::Result<std::unique_ptr<Spool>> Spool::Open(const std::string& dir) {
  std::string path = dir + "/queue.db";
  struct stat st;
  bool existed = ::stat(path.c_str(), &st) == 0;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return util::IoError("cannot open spool " + path + ": " + msg);
  }
  std::unique_ptr<Spool> spool(new Spool(db, path));
  sqlite3_busy_timeout(db, 10000);
  // Probe the file before trusting it: a corrupt or foreign file must stop qmgr here.
  rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return util::DataLoss("spool " + path + " is unreadable (" + sqlite3_errmsg(db) +
                          "); qmgr will not start on a damaged queue. Restore a backup or move the "
                          "file aside to start empty.");
  }
  (void)existed;  // 16 KiB pages were measured: no faster for 100 KB, slower for 1 KB
  MR_RETURN_IF_ERROR(spool->Exec("PRAGMA journal_mode=WAL"));
  // Durability without the loop waiting for the disk: commits on this connection only write
  // the WAL, and SyncWal() (on CommitTracker's syncer thread) fdatasyncs it before anything
  // is acknowledged. That is synchronous=FULL's guarantee (every acknowledged commit is on
  // disk) with the fsync moved off the loop, so the next batch forms while it runs. WAL
  // recovery after a crash keeps the longest valid prefix of frames (checksums, salts), and
  // nothing past the last completed fdatasync was acknowledged to anyone.
  MR_RETURN_IF_ERROR(spool->Exec("PRAGMA synchronous=OFF"));
  MR_RETURN_IF_ERROR(spool->Exec("PRAGMA foreign_keys=OFF"));
  // Debian builds SQLite with SECURE_DELETE, which rewrites every deleted body with zeros:
  // twice the writes for each delivered message. FAST zeroes only where it costs no extra
  // I/O; like Postfix unlinking a queue file, freed space is reused, not scrubbed. The
  // spool is readable by the mailrelay user only.
  MR_RETURN_IF_ERROR(spool->Exec("PRAGMA secure_delete=FAST"));
  // Deleting a delivered body walks its overflow pages; keep recent pages in memory so that
  // walk does not read them back from the file (SQLite's default cache is 2 MB).
  MR_RETURN_IF_ERROR(spool->Exec("PRAGMA cache_size=-65536"));
  // The checkpointer thread moves WAL pages into the database; it keeps the WAL near this
  // size, and a completed checkpoint lets the next commit start the WAL from the top.
  MR_RETURN_IF_ERROR(spool->Exec("PRAGMA journal_size_limit=67108864"));
  MR_RETURN_IF_ERROR(spool->Migrate());
  return spool;
}

Spool::~Spool() {
  StopCheckpointer();
  if (wal_fd_ >= 0) ::close(wal_fd_);
  if (in_txn_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  for (auto& [sql, s] : stmts_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

util::Status Spool::Error(const std::string& what) const {
  int code = sqlite3_errcode(db_);
  std::string msg = what + ": " + sqlite3_errmsg(db_);
  if (code == SQLITE_FULL) return util::ResourceExhausted(msg);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return util::DataLoss(msg);
  return util::IoError(msg);
}

util::Status Spool::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    if (rc == SQLITE_FULL) return util::ResourceExhausted("spool: " + msg);
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return util::DataLoss("spool: " + msg);
    return util::IoError("spool: " + msg);
  }
  return util::Status::Ok();
}

sqlite3_stmt* Spool::Prepare(const char* sql) {
  for (auto& [text, s] : stmts_) {
    if (text == sql) return s;
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) return nullptr;
  stmts_.emplace_back(sql, s);
  return s;
}

util::Status Spool::Migrate() {
  bool has_meta = false;
  {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'", -1, &s, nullptr);
    has_meta = s && sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
  }
  if (!has_meta) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "SELECT count(*) FROM sqlite_master", -1, &s, nullptr);
    int64_t tables = (s && sqlite3_step(s) == SQLITE_ROW) ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    if (tables != 0) {
      return util::DataLoss("spool " + path_ + " is a SQLite file but not a mailrelay queue; refusing to use it");
    }
    MR_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    util::Status st = Exec(kSchemaV1);
    if (!st.ok()) {
      Exec("ROLLBACK").ok();
      return st;
    }
    MR_RETURN_IF_ERROR(Exec("COMMIT"));
    fresh_ = true;
  }
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key='schema_version'", -1, &s, nullptr);
  std::string v;
  if (s && sqlite3_step(s) == SQLITE_ROW) v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  auto version = util::ParseUint(v);
  if (!version) return util::DataLoss("spool " + path_ + " has no schema version; refusing to use it");
  if (*version > static_cast<uint64_t>(kSchemaVersion)) {
    return util::FailedPrecondition("spool " + path_ + " has schema version " + v + ", newer than this qmgr (" +
                                    std::to_string(kSchemaVersion) +
                                    "); install the newer mailrelay again or restore a matching backup");
  }
  int current = static_cast<int>(*version);
  for (const auto& m : kMigrations) {
    if (current >= m.to) continue;
    MR_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    util::Status st = Exec(m.sql);
    if (!st.ok()) {
      Exec("ROLLBACK").ok();
      return util::DataLoss("upgrading spool " + path_ + " to schema " + std::to_string(m.to) + ": " + st.message());
    }
    MR_RETURN_IF_ERROR(Exec("COMMIT"));
    if (!fresh_) {
      // A new spool is created at version 1 and migrated silently; an existing one is news.
      fprintf(stderr, "qmgr: spool %s upgraded from schema %d to %d\n", path_.c_str(), current, m.to);
    }
    current = m.to;
  }
  schema_version_ = current;
  return util::Status::Ok();
}

util::Status Spool::Begin() {
  if (in_txn_) return util::Status::Ok();
  MR_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  in_txn_ = true;
  return util::Status::Ok();
}

util::Status Spool::Commit() {
  if (!in_txn_) return util::Status::Ok();
  in_txn_ = false;
  util::Status st = Exec("COMMIT");
  if (!st.ok()) {
    // A failed COMMIT may leave the transaction open; make sure nothing half-applied stays.
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  return st;
}

util::Status Spool::SyncWal() {
  int fd = wal_fd_.load();
  if (fd < 0) {
    // The -wal file exists from the first commit on and keeps its inode while any connection
    // is open (truncation keeps the inode); fsync flushes the inode, whoever wrote the data.
    fd = ::open((path_ + "-wal").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return util::ErrnoStatus("open " + path_ + "-wal", errno);
    int expected = -1;
    if (!wal_fd_.compare_exchange_strong(expected, fd)) {
      ::close(fd);
      fd = expected;
    }
  }
  if (::fdatasync(fd) != 0) return util::ErrnoStatus("fdatasync " + path_ + "-wal", errno);
  return util::Status::Ok();
}

namespace {
// A checkpoint writes each page's latest version once: letting the WAL collect a few
// thousand frames means a body inserted and deleted meanwhile costs one write, not two.
constexpr int kCheckpointFrames = 4096;
}  // namespace

util::Status Spool::StartCheckpointer() {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return util::IoError("checkpointer cannot open " + path_ + ": " + msg);
  }
  sqlite3_busy_timeout(db, 1000);
  // NORMAL on this connection: the WAL is synced before a checkpoint copies it and the
  // database file after, so checkpointing never puts unsynced data in place.
  sqlite3_exec(db, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
  // Replaces SQLite's own auto-checkpoint (which would run inside our commits, on the loop)
  // with a note to the checkpointer thread.
  sqlite3_wal_hook(
      db_,
      [](void* arg, sqlite3*, const char*, int frames) -> int {
        auto* self = static_cast<Spool*>(arg);
        std::lock_guard<std::mutex> lock(self->ckpt_mu_);
        self->ckpt_dirty_ = true;
        if (frames >= kCheckpointFrames) {
          self->ckpt_wanted_ = true;
          self->ckpt_cv_.notify_one();
        }
        return SQLITE_OK;
      },
      this);
  checkpointer_ = std::thread([this, db] { CheckpointLoop(db); });
  return util::Status::Ok();
}

void Spool::StopCheckpointer() {
  if (!checkpointer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(ckpt_mu_);
    ckpt_stop_ = true;
    ckpt_cv_.notify_one();
  }
  checkpointer_.join();
  sqlite3_wal_hook(db_, nullptr, nullptr);
  if (!in_txn_) sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

void Spool::CheckpointLoop(sqlite3* db) {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(ckpt_mu_);
      // A big WAL wakes us at once; otherwise a quiet spell of 2 s with anything committed.
      bool woken = ckpt_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return ckpt_stop_ || ckpt_wanted_; });
      if (ckpt_stop_) break;
      if (!woken && !ckpt_dirty_) continue;
      ckpt_wanted_ = false;
      ckpt_dirty_ = false;
    }
    // PASSIVE never blocks the writer; pages it cannot take yet wait for the next round.
    if (sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) == SQLITE_OK) {
      checkpoints_.fetch_add(1);
    }
  }
  sqlite3_close(db);
}

util::Status Spool::Recover() {
  MR_RETURN_IF_ERROR(Begin());
  MR_RETURN_IF_ERROR(Exec("DELETE FROM recipient WHERE message IN (SELECT id FROM message WHERE complete = 0)"));
  MR_RETURN_IF_ERROR(Exec("DELETE FROM message WHERE complete = 0"));
  MR_RETURN_IF_ERROR(Exec("DELETE FROM body WHERE message NOT IN (SELECT id FROM message)"));
  MR_RETURN_IF_ERROR(Exec("DELETE FROM recipient WHERE message NOT IN (SELECT id FROM message)"));
  return Commit();
}

namespace {
constexpr const char* kInsertMessage =
    "INSERT INTO message(queue_id, complete, sender, arrival, size, client, helo, auth_user, protocol, tls, "
    "body_type, smtputf8, message_id, subject, held, kind, sealed_secret, idempotency_key, hold_reason, agent_crashes) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";
constexpr const char* kInsertBody = "INSERT INTO body(message, seq, data) VALUES (?1, ?2, ?3)";
constexpr const char* kUpsertRecipient =
    "INSERT OR REPLACE INTO recipient(message, idx, address, state, backend, attempts, primary_deferrals, "
    "on_fallback, next_attempt, first_attempt, last_attempt, dispatched_at, last_code, last_enhanced, "
    "last_text, info, delay_warned) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
}  // namespace

util::Status Spool::InsertIncomplete(Message* m) { return InsertRow(m, /*complete=*/false); }

util::Status Spool::InsertRow(Message* m, bool complete) {
  MR_RETURN_IF_ERROR(Begin());
  Stmt s(Prepare(kInsertMessage));
  if (!s.ok()) return Error("prepare insert message");
  s.Text(1, m->queue_id).Int(2, complete ? 1 : 0).Text(3, m->sender).Int(4, m->arrival).Int(5, static_cast<int64_t>(m->size));
  s.Text(6, m->client).Text(7, m->helo).Text(8, m->auth_user).Text(9, m->protocol).Text(10, m->tls);
  s.Text(11, m->body_type).Int(12, m->smtputf8).Text(13, m->message_id).Text(14, m->subject);
  s.Int(15, m->held).Int(16, static_cast<int>(m->kind)).Blob(17, m->sealed_secret).Text(18, m->idempotency_key);
  s.Text(19, m->hold_reason).Int(20, m->agent_crashes);
  if (s.Step() != SQLITE_DONE) return Error("insert message " + m->queue_id);
  m->rowid = sqlite3_last_insert_rowid(db_);
  return util::Status::Ok();
}

util::Status Spool::AppendBody(int64_t rowid, int seq, std::string_view data) {
  MR_RETURN_IF_ERROR(Begin());
  Stmt s(Prepare(kInsertBody));
  if (!s.ok()) return Error("prepare insert body");
  s.Int(1, rowid).Int(2, seq).Blob(3, data);
  if (s.Step() != SQLITE_DONE) return Error("insert body");
  return util::Status::Ok();
}

util::Status Spool::CompleteMessage(const Message& m) {
  MR_RETURN_IF_ERROR(Begin());
  {
    Stmt s(Prepare("UPDATE message SET complete = 1, size = ?2, message_id = ?3, subject = ?4 WHERE id = ?1"));
    if (!s.ok()) return Error("prepare complete");
    s.Int(1, m.rowid).Int(2, static_cast<int64_t>(m.size)).Text(3, m.message_id).Text(4, m.subject);
    if (s.Step() != SQLITE_DONE) return Error("complete message " + m.queue_id);
  }
  for (const auto& r : m.recipients) MR_RETURN_IF_ERROR(UpdateRecipient(m.rowid, r));
  return util::Status::Ok();
}

util::Status Spool::InsertMessage(Message* m, std::string_view body) {
  MR_RETURN_IF_ERROR(InsertRow(m, /*complete=*/true));
  constexpr size_t kChunk = 1 << 20;
  int seq = 0;
  for (size_t off = 0; off < body.size() || (off == 0 && body.empty()); off += kChunk) {
    MR_RETURN_IF_ERROR(AppendBody(m->rowid, seq++, body.substr(off, kChunk)));
    if (body.empty()) break;
  }
  for (const auto& r : m->recipients) MR_RETURN_IF_ERROR(UpdateRecipient(m->rowid, r));
  return util::Status::Ok();
}

util::Status Spool::UpdateRecipient(int64_t rowid, const Recipient& r) {
  MR_RETURN_IF_ERROR(Begin());
  Stmt s(Prepare(kUpsertRecipient));
  if (!s.ok()) return Error("prepare recipient");
  s.Int(1, rowid).Int(2, r.idx).Text(3, r.address).Int(4, static_cast<int>(r.state)).Text(5, r.backend);
  s.Int(6, r.attempts).Int(7, r.primary_deferrals).Int(8, r.on_fallback).Int(9, r.next_attempt);
  s.Int(10, r.first_attempt).Int(11, r.last_attempt).Int(12, r.dispatched_at).Int(13, r.last_code);
  s.Text(14, r.last_enhanced).Text(15, r.last_text).Text(16, r.info).Int(17, r.delay_warned);
  if (s.Step() != SQLITE_DONE) return Error("update recipient");
  return util::Status::Ok();
}

util::Status Spool::SetHeld(int64_t rowid, bool held) {
  MR_RETURN_IF_ERROR(Begin());
  Stmt s(Prepare("UPDATE message SET held = ?2 WHERE id = ?1"));
  if (!s.ok()) return Error("prepare hold");
  s.Int(1, rowid).Int(2, held);
  if (s.Step() != SQLITE_DONE) return Error("hold");
  return util::Status::Ok();
}

util::Status Spool::UpdateMessageState(const Message& m) {
  MR_RETURN_IF_ERROR(Begin());
  Stmt s(Prepare("UPDATE message SET held = ?2, hold_reason = ?3, agent_crashes = ?4 WHERE id = ?1"));
  if (!s.ok()) return Error("prepare message state");
  s.Int(1, m.rowid).Int(2, m.held).Text(3, m.hold_reason).Int(4, m.agent_crashes);
  if (s.Step() != SQLITE_DONE) return Error("message state");
  return util::Status::Ok();
}

util::Status Spool::DeleteMessage(int64_t rowid) {
  MR_RETURN_IF_ERROR(Begin());
  for (const char* sql : {"DELETE FROM body WHERE message = ?1", "DELETE FROM recipient WHERE message = ?1",
                          "DELETE FROM message WHERE id = ?1"}) {
    Stmt s(Prepare(sql));
    if (!s.ok()) return Error("prepare delete");
    s.Int(1, rowid);
    if (s.Step() != SQLITE_DONE) return Error("delete message");
  }
  return util::Status::Ok();
}

uint64_t Spool::FreeBytesInside() {
  int64_t pages = 0, page_size = 0;
  {
    Stmt s(Prepare("PRAGMA freelist_count"));
    if (s.ok() && s.Step() == SQLITE_ROW) pages = s.ColInt(0);
  }
  {
    Stmt s(Prepare("PRAGMA page_size"));
    if (s.ok() && s.Step() == SQLITE_ROW) page_size = s.ColInt(0);
  }
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : 0;
}

util::Status Spool::AppendSendLog(const SendLogEntry& e) {
  MR_RETURN_IF_ERROR(Begin());
  Stmt s(Prepare("INSERT INTO send_log(time, queue_id, sender, recipient, subject, backend, status, reply) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  if (!s.ok()) return Error("prepare send log");
  s.Int(1, e.time).Text(2, e.queue_id).Text(3, e.sender).Text(4, e.recipient).Text(5, e.subject);
  s.Text(6, e.backend).Text(7, e.status).Text(8, e.reply);
  if (s.Step() != SQLITE_DONE) return Error("insert send log");
  return util::Status::Ok();
}

util::Status Spool::PruneSendLog(int64_t before) {
  MR_RETURN_IF_ERROR(Begin());
  Stmt s(Prepare("DELETE FROM send_log WHERE time < ?1"));
  if (!s.ok()) return Error("prepare prune");
  s.Int(1, before);
  if (s.Step() != SQLITE_DONE) return Error("prune send log");
  return util::Status::Ok();
}

util::Result<std::vector<Message>> Spool::LoadAll() {
  std::vector<Message> out;
  std::vector<std::pair<int64_t, size_t>> index;
  {
    Stmt s(Prepare("SELECT id, queue_id, sender, arrival, size, client, helo, auth_user, protocol, tls, body_type, "
                   "smtputf8, message_id, subject, held, kind, sealed_secret, idempotency_key, hold_reason, "
                   "agent_crashes FROM message WHERE complete = 1 ORDER BY id"));
    if (!s.ok()) return Error("prepare load");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      Message m;
      m.rowid = s.ColInt(0);
      m.queue_id = s.ColText(1);
      m.sender = s.ColText(2);
      m.arrival = s.ColInt(3);
      m.size = static_cast<uint64_t>(s.ColInt(4));
      m.client = s.ColText(5);
      m.helo = s.ColText(6);
      m.auth_user = s.ColText(7);
      m.protocol = s.ColText(8);
      m.tls = s.ColText(9);
      m.body_type = s.ColText(10);
      m.smtputf8 = s.ColInt(11) != 0;
      m.message_id = s.ColText(12);
      m.subject = s.ColText(13);
      m.held = s.ColInt(14) != 0;
      m.kind = static_cast<MessageKind>(s.ColInt(15));
      m.sealed_secret = s.ColBlob(16);
      m.idempotency_key = s.ColText(17);
      m.hold_reason = s.ColText(18);
      m.agent_crashes = static_cast<int>(s.ColInt(19));
      out.push_back(std::move(m));
    }
    if (rc != SQLITE_DONE) return Error("load messages");
  }
  std::unordered_map<int64_t, size_t> pos;
  for (size_t i = 0; i < out.size(); ++i) pos[out[i].rowid] = i;
  Stmt s(Prepare("SELECT message, idx, address, state, backend, attempts, primary_deferrals, on_fallback, "
                 "next_attempt, first_attempt, last_attempt, dispatched_at, last_code, last_enhanced, last_text, "
                 "info, delay_warned FROM recipient ORDER BY message, idx"));
  if (!s.ok()) return Error("prepare load recipients");
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    auto it = pos.find(s.ColInt(0));
    if (it == pos.end()) continue;
    Recipient r;
    r.idx = static_cast<int>(s.ColInt(1));
    r.address = s.ColText(2);
    r.state = static_cast<RcptState>(s.ColInt(3));
    r.backend = s.ColText(4);
    r.attempts = static_cast<int>(s.ColInt(5));
    r.primary_deferrals = static_cast<int>(s.ColInt(6));
    r.on_fallback = s.ColInt(7) != 0;
    r.next_attempt = s.ColInt(8);
    r.first_attempt = s.ColInt(9);
    r.last_attempt = s.ColInt(10);
    r.dispatched_at = s.ColInt(11);
    r.last_code = static_cast<int>(s.ColInt(12));
    r.last_enhanced = s.ColText(13);
    r.last_text = s.ColText(14);
    r.info = s.ColText(15);
    r.delay_warned = s.ColInt(16) != 0;
    out[it->second].recipients.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error("load recipients");
  return out;
}

util::Result<std::string> Spool::LoadBody(int64_t rowid) {
  sqlite3_stmt* raw = Prepare("SELECT data FROM body WHERE message = ?1 ORDER BY seq");
  Stmt s(raw);
  if (!s.ok()) return Error("prepare body");
  s.Int(1, rowid);
  std::string out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    const void* p = sqlite3_column_blob(raw, 0);
    int n = sqlite3_column_bytes(raw, 0);
    if (p && n > 0) out.append(static_cast<const char*>(p), static_cast<size_t>(n));
  }
  if (rc != SQLITE_DONE) return Error("read body");
  return out;
}

util::Result<std::vector<SendLogEntry>> Spool::ReadSendLog(int64_t since, int limit) {
  Stmt s(Prepare("SELECT time, queue_id, sender, recipient, subject, backend, status, reply FROM send_log "
                 "WHERE time >= ?1 ORDER BY id LIMIT ?2"));
  if (!s.ok()) return Error("prepare send log read");
  s.Int(1, since).Int(2, limit);
  std::vector<SendLogEntry> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    SendLogEntry e;
    e.time = s.ColInt(0);
    e.queue_id = s.ColText(1);
    e.sender = s.ColText(2);
    e.recipient = s.ColText(3);
    e.subject = s.ColText(4);
    e.backend = s.ColText(5);
    e.status = s.ColText(6);
    e.reply = s.ColText(7);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return Error("read send log");
  return out;
}

}  // namespace mailrelay::qmgr
