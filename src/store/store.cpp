#include "store/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/clock.h"
#include "core/json_writer.h"
#include "core/log.h"

namespace livehub {
namespace {

constexpr int kSchemaVersion = 1;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams(
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, epoch TEXT NOT NULL,
  created_ms INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  last_ts_ms INTEGER NOT NULL, events INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY(stream_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors(
  source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_ms INTEGER NOT NULL,
  PRIMARY KEY(source, key)) WITHOUT ROWID;
)sql";

// RAII prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

std::string DbError(sqlite3* db, const std::string& what) {
  return what + ": " + sqlite3_errmsg(db) + " (sqlite code " +
         std::to_string(sqlite3_extended_errcode(db)) + ")";
}

int64_t NowMs() { return SystemClock::Get()->NowMs(); }
int64_t MonoNs() { return SystemClock::Get()->MonoNs(); }

}  // namespace

Result<int> LockDataDir(const std::string& dir) {
  const std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Unavailable("data_dir_unusable",
                               "cannot open '" + path + "': " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
    ::close(fd);
    return Status::Unavailable(
        "data_dir_in_use", "the data directory '" + dir + "' is in use by another livehub (pid " +
                               std::string(holder, n > 0 ? static_cast<size_t>(n) : 0) +
                               "); stop it first or use another --data-dir");
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return fd;
}

Result<Durability> ParseDurability(std::string_view text) {
  if (text == "memory") return Durability::kMemory;
  if (text == "async") return Durability::kAsync;
  if (text == "sync") return Durability::kSync;
  return Status::InvalidArgument(
      "bad_config", "durability '" + std::string(text) + "' must be memory, async or sync");
}

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kMemory:
      return "memory";
    case Durability::kAsync:
      return "async";
    case Durability::kSync:
      return "sync";
  }
  return "?";
}

Store::Store(StoreOptions options, MetricsRegistry* metrics) : options_(std::move(options)) {
  commit_latency_ =
      metrics->GetHistogram("store_commit_seconds", "Store transaction latency (write + fsync).");
  committed_events_ =
      metrics->GetCounter("store_events_committed_total", "Events committed to the store.");
  commits_ =
      metrics->GetCounter("store_commits_total", "Store transactions committed (group commits).");
  failures_ = metrics->GetCounter("store_failures_total", "Failed store transactions.");
  retention_deleted_ =
      metrics->GetCounter("store_retention_deleted_total", "Stored events deleted by retention.");
  queue_depth_ = metrics->GetGauge("store_queue_events", "Events waiting to be committed.");
  db_bytes_ = metrics->GetGauge("store_bytes", "Size of the store's database file.");
}

Result<std::unique_ptr<Store>> Store::Open(StoreOptions options, MetricsRegistry* metrics) {
  std::unique_ptr<Store> s(new Store(std::move(options), metrics));
  if (Status st = s->Init(); !st.ok()) return st;
  s->writer_ = std::thread([p = s.get()] { p->WriterLoop(); });
  return s;
}

Status Store::Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return Status::Unavailable("store_unavailable", msg);
  }
  return Status::Ok();
}

Status Store::Init() {
  const std::string& path = options_.path;
  auto refuse = [&](const std::string& why) {
    return Status::Unavailable(
        "store_damaged",
        "the store '" + path + "' cannot be opened: " + why +
            ". livehub will not start over a damaged store. Run `livehub store check --data-dir "
            "DIR` to see what is wrong; then restore the file from a backup, salvage rows with "
            "the sqlite3 shell's .recover, or move it aside to start empty on purpose (see "
            "docs/operations.md, Faults)");
  };
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &wdb_, flags, nullptr) != SQLITE_OK) {
    return refuse(sqlite3_errmsg(wdb_));
  }
  sqlite3_busy_timeout(wdb_, 5000);
  // journal_mode reads the header: a foreign or corrupt file fails here.
  if (Status st = Exec(wdb_, "PRAGMA journal_mode=WAL"); !st.ok()) return refuse(st.message());
  // FULL: a commit is on disk (fsync of the WAL) before any `sync` ack.
  if (Status st = Exec(wdb_, "PRAGMA synchronous=FULL"); !st.ok()) return refuse(st.message());
  Exec(wdb_, "PRAGMA wal_autocheckpoint=4000");
  if (options_.max_db_bytes) {
    int64_t pages = static_cast<int64_t>(options_.max_db_bytes / 4096);
    Exec(wdb_, ("PRAGMA max_page_count=" + std::to_string(std::max<int64_t>(pages, 64))).c_str());
  }
  if (Status st = Exec(wdb_, kSchema); !st.ok()) return refuse(st.message());
  {
    Stmt v(wdb_, "SELECT value FROM meta WHERE key='schema_version'");
    if (!v.ok()) return refuse(sqlite3_errmsg(wdb_));
    if (v.Step() == SQLITE_ROW) {
      if (v.Text(0) != std::to_string(kSchemaVersion)) {
        return refuse("schema version " + v.Text(0) + " is not " + std::to_string(kSchemaVersion));
      }
    }
  }
  {
    Stmt c(wdb_, "SELECT value FROM meta WHERE key='clean_shutdown'");
    if (c.ok() && c.Step() == SQLITE_ROW) previous_run_crashed_ = c.Text(0) != "1";
  }
  if (Status st = Exec(wdb_, "INSERT OR REPLACE INTO meta VALUES('schema_version','1')");
      !st.ok()) {
    return refuse(st.message());
  }
  if (!options_.tool) {
    if (Status st = Exec(wdb_, "INSERT OR REPLACE INTO meta VALUES('clean_shutdown','0')");
        !st.ok()) {
      return refuse(st.message());
    }
  }
  Stmt q(wdb_,
         "SELECT id,name,epoch,created_ms,first_seq,last_seq,last_ts_ms,events,bytes "
         "FROM streams ORDER BY name");
  if (!q.ok()) return refuse(sqlite3_errmsg(wdb_));
  // Uncontended: the writer thread starts after Init returns.
  MutexLock lock(mu_);
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    StoredStream s;
    s.id = q.Int(0);
    s.name = q.Text(1);
    s.epoch = q.Text(2);
    s.created_ms = q.Int(3);
    s.first_seq = static_cast<uint64_t>(q.Int(4));
    s.last_seq = static_cast<uint64_t>(q.Int(5));
    s.last_ts_ms = q.Int(6);
    s.events = static_cast<uint64_t>(q.Int(7));
    s.bytes = static_cast<uint64_t>(q.Int(8));
    StreamState& st = streams_[s.id];
    st.name = s.name;
    st.epoch = s.epoch;
    st.created_ms = s.created_ms;
    st.first_seq = s.first_seq;
    st.last_seq = s.last_seq;
    st.last_ts_ms = s.last_ts_ms;
    st.events = s.events;
    st.bytes = s.bytes;
    ids_[s.name] = s.id;
    next_id_ = std::max(next_id_, s.id + 1);
    loaded_.push_back(std::move(s));
  }
  if (rc != SQLITE_DONE) return refuse(sqlite3_errmsg(wdb_));
  if (sqlite3_open_v2(path.c_str(), &rdb_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    return refuse(sqlite3_errmsg(rdb_));
  }
  sqlite3_busy_timeout(rdb_, 5000);
  return Status::Ok();
}

Store::~Store() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  sqlite3_close_v2(rdb_);
  sqlite3_close_v2(wdb_);
}

int64_t Store::AddStream(const std::string& name, const std::string& epoch, int64_t created_ms,
                         uint64_t last_seq) {
  MutexLock lock(mu_);
  int64_t id;
  if (auto it = ids_.find(name); it != ids_.end()) {
    id = it->second;
  } else {
    id = next_id_++;
    ids_[name] = id;
    StreamState& st = streams_[id];
    st.name = name;
    st.created_ms = created_ms;
    st.first_seq = last_seq + 1;
    st.last_seq = last_seq;
  }
  streams_[id].epoch = epoch;
  Op op;
  op.kind = Op::kStream;
  op.stream_id = id;
  op.a = name;
  op.b = epoch;
  op.n = created_ms;
  queue_.push_back(std::move(op));
  ++enqueued_ops_;
  cv_.notify_one();
  return id;
}

void Store::SetRetention(int64_t stream_id, RetentionLimits limits) {
  MutexLock lock(mu_);
  StreamState& st = streams_[stream_id];
  st.retention = limits;
  st.has_retention = true;
}

Status Store::Writable() const {
  MutexLock lock(mu_);
  if (!failure_.empty()) {
    return Status::Unavailable(
        "store_unavailable",
        "the store cannot commit (" + failure_ + "); publishes are refused until it recovers");
  }
  if (queued_events_ >= options_.max_queue_events) {
    return Status::Unavailable("store_unavailable",
                               "the store is " + std::to_string(queued_events_) +
                                   " events behind (store.max_queue_events); retry shortly");
  }
  return Status::Ok();
}

void Store::Enqueue(int64_t stream_id, std::vector<StoreRecord> records,
                    std::function<void()> done) {
  MutexLock lock(mu_);
  queued_events_ += records.size();
  queue_depth_->Set(static_cast<int64_t>(queued_events_));
  Op op;
  op.kind = Op::kEvents;
  op.stream_id = stream_id;
  op.records = std::move(records);
  op.sync = static_cast<bool>(done);
  op.done = std::move(done);
  const bool wake = idle_ || op.sync || queued_events_ >= options_.max_batch_events;
  if (op.sync) ++queued_sync_ops_;
  queue_.push_back(std::move(op));
  ++enqueued_ops_;
  if (wake) cv_.notify_one();
}

void Store::PutCursor(const std::string& source, const std::string& key, const std::string& value) {
  MutexLock lock(mu_);
  Op op;
  op.kind = Op::kCursor;
  op.a = source;
  op.b = key;
  op.c = value;
  queue_.push_back(std::move(op));
  ++enqueued_ops_;
  cv_.notify_one();
}

std::optional<std::string> Store::GetCursor(const std::string& source, const std::string& key) {
  MutexLock lock(read_mu_);
  Stmt q(rdb_, "SELECT value FROM cursors WHERE source=?1 AND key=?2");
  if (!q.ok()) return std::nullopt;
  q.Bind(1, source).Bind(2, key);
  if (q.Step() != SQLITE_ROW) return std::nullopt;
  return q.Text(0);
}

Status Store::Read(int64_t stream_id, uint64_t from_seq, uint64_t to_seq, size_t limit,
                   size_t max_bytes, std::vector<StoredEvent>* out) {
  MutexLock lock(read_mu_);
  Stmt q(rdb_,
         "SELECT seq, ts_ms, data FROM events WHERE stream_id=?1 AND seq>=?2 AND seq<=?3 "
         "ORDER BY seq LIMIT ?4");
  if (!q.ok()) return Status::Unavailable("store_unavailable", DbError(rdb_, "store read"));
  q.Bind(1, stream_id)
      .Bind(2, static_cast<int64_t>(from_seq))
      .Bind(3, static_cast<int64_t>(std::min<uint64_t>(to_seq, INT64_MAX)))
      .Bind(4, static_cast<int64_t>(limit));
  size_t bytes = 0;
  int rc;
  while (bytes < max_bytes && (rc = q.Step()) == SQLITE_ROW) {
    StoredEvent e;
    e.seq = static_cast<uint64_t>(q.Int(0));
    e.ts_ms = q.Int(1);
    e.data = q.Text(2);
    bytes += e.data.size();
    out->push_back(std::move(e));
  }
  if (bytes < max_bytes && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    return Status::Unavailable("store_unavailable", DbError(rdb_, "store read"));
  }
  return Status::Ok();
}

uint64_t Store::FirstSeq(int64_t stream_id) const {
  MutexLock lock(mu_);
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? 1 : it->second.first_seq;
}

uint64_t Store::LastSeq(int64_t stream_id) const {
  MutexLock lock(mu_);
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? 0 : it->second.last_seq;
}

bool Store::Flush(int64_t timeout_ms) {
  MutexLock lock(mu_);
  const uint64_t target = enqueued_ops_;
  cv_.notify_one();
  return flushed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [&]() REQUIRES(mu_) { return committed_ops_ >= target; });
}

// ---------------------------------------------------------------------------
// Writer thread
// ---------------------------------------------------------------------------

void Store::WriterLoop() {
  std::vector<Op> batch;  // taken from the queue, committed or retried
  // After a failed commit only a prefix of this many ops is tried, halved
  // on each failure down to one, doubled on each success (0: the whole
  // batch). A batch bigger than the room retention can free (a full store,
  // max_db_bytes) would otherwise never commit; one publish at a time does,
  // as soon as there is room for it.
  size_t retry_ops = 0;
  int64_t last_retention_ns = MonoNs();
  int failed_tries_while_stopping = 0;
  for (;;) {
    size_t batch_events = 0;
    bool stopping;
    {
      MutexLock lock(mu_);
      const bool retrying = !failure_.empty();
      idle_ = true;
      cv_.wait_for(lock, std::chrono::milliseconds(retrying ? 500 : options_.retention_interval_ms),
                   [&]() REQUIRES(mu_) { return stop_ || (!retrying && !queue_.empty()); });
      // Group commit for async-only work: gather for up to
      // async_commit_delay_ms unless a sync publisher waits or the batch is
      // full (enqueues do not wake us meanwhile: fewer wake-ups, fewer
      // transactions).
      if (!stop_ && !retrying && queued_sync_ops_ == 0 && options_.async_commit_delay_ms > 0) {
        idle_ = false;
        cv_.wait_for(
            lock, std::chrono::milliseconds(options_.async_commit_delay_ms), [&]() REQUIRES(mu_) {
              return stop_ || queued_sync_ops_ > 0 || queued_events_ >= options_.max_batch_events;
            });
      }
      idle_ = false;
      stopping = stop_;
      if (stop_ && queue_.empty() && batch.empty()) break;
      for (const Op& op : batch) batch_events += op.records.size();
      // A failing batch is retried as it is: growing it could keep a
      // size-related failure (a full store) from ever clearing.
      while (!queue_.empty() && batch_events < options_.max_batch_events &&
             (batch.empty() || failure_.empty())) {
        batch_events += queue_.front().records.size();
        if (queue_.front().sync) --queued_sync_ops_;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      std::vector<Op> rest;  // after the prefix: committed on a later turn
      if (retry_ops >= batch.size()) retry_ops = 0;
      if (retry_ops > 0) {
        const auto mid = batch.begin() + static_cast<ptrdiff_t>(retry_ops);
        rest.assign(std::make_move_iterator(mid), std::make_move_iterator(batch.end()));
        batch.erase(mid, batch.end());
      }
      size_t events = 0, bytes = 0;
      const int64_t t0 = MonoNs();
      Status st = Commit(batch, &events, &bytes);
      if (!st.ok()) {
        retry_ops = std::max<size_t>(1, batch.size() / 2);
        failures_->Add();
        bool first;
        {
          MutexLock lock(mu_);
          first = failure_.empty();
          failure_ = st.message();
        }
        if (first) {
          LogLine(LogLevel::kError, "store commit failed",
                  JsonFields().Add("error", st.message()).Add("retry_ms", 500));
        }
        // Shutting down and still failing: give up after about 5 s.
        if (stopping && ++failed_tries_while_stopping > 10) break;
        if (stopping) std::this_thread::sleep_for(std::chrono::milliseconds(500));
        // The same batch is retried on the next turn; retention below may
        // free the space the commit needs.
      } else {
        OnCommitted(batch, events, MonoNs() - t0);  // clears batch
        retry_ops *= 2;  // grows back to the whole batch while commits succeed
      }
      for (Op& op : rest) batch.push_back(std::move(op));  // queue order kept
    }
    if (MonoNs() - last_retention_ns >= options_.retention_interval_ms * 1'000'000) {
      last_retention_ns = MonoNs();
      uint64_t deleted = 0;
      if (Status st = ApplyRetention(NowMs(), &deleted); !st.ok()) {
        failures_->Add();
        LogLine(LogLevel::kWarn, "store retention failed", JsonFields().Add("error", st.message()));
      }
      retention_deleted_->Add(deleted);
      Stmt pc(wdb_, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()");
      if (pc.ok() && pc.Step() == SQLITE_ROW) db_bytes_->Set(pc.Int(0));
    }
  }
  // Clean stop: everything queued is committed.
  MutexLock lock(mu_);
  if (queue_.empty() && batch.empty() && failure_.empty()) {
    if (!options_.tool) Exec(wdb_, "UPDATE meta SET value='1' WHERE key='clean_shutdown'");
    Exec(wdb_, "PRAGMA wal_checkpoint(TRUNCATE)");
  }
}

void Store::OnCommitted(std::vector<Op>& batch, size_t events, int64_t latency_ns) {
  commit_latency_->ObserveNs(latency_ns);
  commits_->Add();
  committed_events_->Add(events);
  bool recovered;
  {
    MutexLock lock(mu_);
    recovered = !failure_.empty();
    failure_.clear();
    queued_events_ -= events;
    queue_depth_->Set(static_cast<int64_t>(queued_events_));
  }
  if (recovered) LogLine(LogLevel::kInfo, "store commits resumed");
  for (Op& op : batch) {
    if (op.done) op.done();
  }
  {
    MutexLock lock(mu_);
    committed_ops_ += batch.size();
  }
  flushed_.notify_all();
  batch.clear();
}

Status Store::Commit(std::vector<Op>& ops, size_t* events, size_t* bytes) {
  auto fail = [&](const std::string& what) {
    Status st = Status::Unavailable("store_unavailable", DbError(wdb_, what));
    sqlite3_exec(wdb_, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  };
  // A batch with a `sync` publish waits for the WAL fsync (FULL); an
  // all-async batch only writes the WAL (NORMAL: safe from a process crash,
  // fsynced by the next FULL commit or checkpoint; see docs/operations.md).
  const bool any_sync = std::any_of(ops.begin(), ops.end(), [](const Op& op) { return op.sync; });
  if (any_sync != synchronous_full_) {
    sqlite3_exec(wdb_, any_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", nullptr,
                 nullptr, nullptr);
    synchronous_full_ = any_sync;
  }
  if (sqlite3_exec(wdb_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("begin");
  }
  Stmt ins(wdb_, "INSERT OR REPLACE INTO events(stream_id, seq, ts_ms, data) VALUES(?1,?2,?3,?4)");
  Stmt stream(wdb_,
              "INSERT INTO streams(id,name,epoch,created_ms,first_seq,last_seq,last_ts_ms,events,"
              "bytes) VALUES(?1,?2,?3,?4,?5,?6,0,0,0) "
              "ON CONFLICT(id) DO UPDATE SET epoch=excluded.epoch");
  Stmt upd(wdb_,
           "UPDATE streams SET first_seq=?2, last_seq=?3, last_ts_ms=?4, events=?5, bytes=?6 "
           "WHERE id=?1");
  Stmt cur(wdb_, "INSERT OR REPLACE INTO cursors VALUES(?1,?2,?3,?4)");
  if (!ins.ok() || !stream.ok() || !upd.ok() || !cur.ok()) return fail("prepare");
  // Per-stream totals after this batch, applied to streams_ only on success.
  struct Delta {
    uint64_t last_seq = 0;
    int64_t first_ts = -1;
    int64_t last_ts = 0;
    uint64_t events = 0;
    uint64_t bytes = 0;
  };
  std::unordered_map<int64_t, Delta> deltas;
  *events = 0;
  *bytes = 0;
  for (Op& op : ops) {
    switch (op.kind) {
      case Op::kStream: {
        uint64_t first, last;
        {
          MutexLock lock(mu_);
          const StreamState& st = streams_[op.stream_id];
          first = st.first_seq;
          last = st.last_seq;
        }
        stream.Bind(1, op.stream_id).Bind(2, op.a).Bind(3, op.b).Bind(4, op.n);
        stream.Bind(5, static_cast<int64_t>(first)).Bind(6, static_cast<int64_t>(last));
        if (stream.Step() != SQLITE_DONE) return fail("write stream row");
        stream.Reset();
        break;
      }
      case Op::kEvents: {
        Delta& d = deltas[op.stream_id];
        for (const StoreRecord& r : op.records) {
          ins.Bind(1, op.stream_id).Bind(2, static_cast<int64_t>(r.seq)).Bind(3, r.ts_ms);
          ins.BindBlob(4, r.data);
          if (ins.Step() != SQLITE_DONE) return fail("write events");
          ins.Reset();
          d.last_seq = std::max(d.last_seq, r.seq);
          if (d.first_ts < 0) d.first_ts = r.ts_ms;
          d.last_ts = std::max(d.last_ts, r.ts_ms);
          ++d.events;
          d.bytes += r.data.size();
        }
        *events += op.records.size();
        break;
      }
      case Op::kCursor:
        cur.Bind(1, op.a).Bind(2, op.b).Bind(3, op.c).Bind(4, NowMs());
        if (cur.Step() != SQLITE_DONE) return fail("write cursor");
        cur.Reset();
        break;
    }
  }
  std::unordered_map<int64_t, StreamState> after;
  {
    MutexLock lock(mu_);
    for (auto& [id, d] : deltas) {
      StreamState st = streams_[id];
      if (st.events == 0) {
        st.first_seq = st.last_seq + 1;
        st.first_ts_ms = d.first_ts;
      }
      st.last_seq = std::max(st.last_seq, d.last_seq);
      st.last_ts_ms = std::max(st.last_ts_ms, d.last_ts);
      st.events += d.events;
      st.bytes += d.bytes;
      after[id] = std::move(st);
    }
  }
  for (auto& [id, st] : after) {
    upd.Bind(1, id).Bind(2, static_cast<int64_t>(st.first_seq));
    upd.Bind(3, static_cast<int64_t>(st.last_seq)).Bind(4, st.last_ts_ms);
    upd.Bind(5, static_cast<int64_t>(st.events)).Bind(6, static_cast<int64_t>(st.bytes));
    if (upd.Step() != SQLITE_DONE) return fail("update stream row");
    upd.Reset();
    *bytes += deltas[id].bytes;
  }
  if (sqlite3_exec(wdb_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("commit");
  MutexLock lock(mu_);
  for (auto& [id, st] : after) {
    StreamState& cur_st = streams_[id];
    cur_st.first_seq = st.first_seq;
    cur_st.last_seq = st.last_seq;
    cur_st.last_ts_ms = st.last_ts_ms;
    cur_st.events = st.events;
    cur_st.bytes = st.bytes;
    cur_st.first_ts_ms = st.first_ts_ms;
  }
  return Status::Ok();
}

Status Store::ApplyRetention(int64_t now_ms, uint64_t* deleted) {
  std::vector<std::pair<int64_t, StreamState>> todo;
  {
    MutexLock lock(mu_);
    for (const auto& [id, st] : streams_) {
      if (!st.has_retention || st.events == 0) continue;
      todo.emplace_back(id, st);
    }
  }
  for (auto& [id, st] : todo) {
    const RetentionLimits& r = st.retention;
    uint64_t keep_from = st.first_seq;
    if (r.max_events && st.events > r.max_events) {
      keep_from = std::max(keep_from, st.last_seq - r.max_events + 1);
    }
    // Age and bytes: walk the oldest rows (ts grows with seq within a stream).
    // Skip the age scan while the oldest stored event is known to be young
    // enough: one query per stream per pass would not scale to many streams.
    const bool check_age =
        r.max_age_ms > 0 && !(st.first_ts_ms >= 0 && st.first_ts_ms >= now_ms - r.max_age_ms);
    const bool check_bytes = r.max_bytes && st.bytes > r.max_bytes;
    if (check_age || check_bytes) {
      Stmt q(wdb_,
             "SELECT seq, ts_ms, length(data) FROM events WHERE stream_id=?1 AND seq>=?2 "
             "ORDER BY seq LIMIT 1000");
      if (!q.ok()) return Status::Unavailable("store_unavailable", DbError(wdb_, "retention"));
      uint64_t bytes = st.bytes;
      uint64_t from = st.first_seq;
      uint64_t first_kept_seq = 0;
      int64_t first_kept_ts = -1;
      bool more = true;
      while (more) {
        q.Bind(1, id).Bind(2, static_cast<int64_t>(from));
        int rows = 0;
        more = false;
        while (q.Step() == SQLITE_ROW) {
          ++rows;
          const uint64_t seq = static_cast<uint64_t>(q.Int(0));
          const bool old = check_age && q.Int(1) < now_ms - r.max_age_ms;
          const bool over = check_bytes && bytes > r.max_bytes;
          if (!old && !over) {
            first_kept_seq = seq;
            first_kept_ts = q.Int(1);
            break;
          }
          bytes -= static_cast<uint64_t>(q.Int(2));
          keep_from = std::max(keep_from, seq + 1);
          from = seq + 1;
          more = rows == 1000;
        }
        q.Reset();
      }
      MutexLock lock(mu_);
      streams_[id].first_ts_ms = keep_from <= first_kept_seq ? first_kept_ts : -1;
    }
    if (keep_from > st.first_seq) {
      if (Status s = DeletePrefix(id, &st, keep_from, deleted); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

Status Store::DeletePrefix(int64_t id, StreamState* st, uint64_t keep_from, uint64_t* deleted) {
  if (sqlite3_exec(wdb_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Status::Unavailable("store_unavailable", DbError(wdb_, "retention begin"));
  }
  Stmt sum(wdb_,
           "SELECT count(*), coalesce(sum(length(data)),0) FROM events "
           "WHERE stream_id=?1 AND seq<?2");
  Stmt del(wdb_, "DELETE FROM events WHERE stream_id=?1 AND seq<?2");
  Stmt upd(wdb_, "UPDATE streams SET first_seq=?2, events=events-?3, bytes=bytes-?4 WHERE id=?1");
  if (!sum.ok() || !del.ok() || !upd.ok()) {
    sqlite3_exec(wdb_, "ROLLBACK", nullptr, nullptr, nullptr);
    return Status::Unavailable("store_unavailable", DbError(wdb_, "retention prepare"));
  }
  sum.Bind(1, id).Bind(2, static_cast<int64_t>(keep_from));
  sum.Step();
  const int64_t n = sum.Int(0), b = sum.Int(1);
  del.Bind(1, id).Bind(2, static_cast<int64_t>(keep_from));
  upd.Bind(1, id).Bind(2, static_cast<int64_t>(keep_from)).Bind(3, n).Bind(4, b);
  if (del.Step() != SQLITE_DONE || upd.Step() != SQLITE_DONE ||
      sqlite3_exec(wdb_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    Status s = Status::Unavailable("store_unavailable", DbError(wdb_, "retention delete"));
    sqlite3_exec(wdb_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  }
  *deleted += static_cast<uint64_t>(n);
  MutexLock lock(mu_);
  StreamState& cur = streams_[id];
  // first_ts_ms may now be older than the oldest kept event (ts grows with
  // seq): that only makes the next age check scan, never skip wrongly.
  cur.first_seq = std::max(cur.first_seq, keep_from);
  cur.events -= std::min<uint64_t>(cur.events, static_cast<uint64_t>(n));
  cur.bytes -= std::min<uint64_t>(cur.bytes, static_cast<uint64_t>(b));
  (void)st;
  return Status::Ok();
}

}  // namespace livehub
