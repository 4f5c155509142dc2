// Store: the embedded SQLite store (WAL mode) that makes streams durable.
//
// One writer thread owns the write connection and commits everything queued
// since its last commit in one transaction (group commit): event rows,
// stream rows (watermark, counts, bytes, kept in the same transaction so they
// always agree with the events), connector cursors and retention deletions.
// Readers (history backfill, resume beyond memory) use their own connection.
//
// Thread safety: every public method is thread-safe. Enqueue() only takes a
// short mutex; `done` callbacks run on the writer thread, in queue order,
// after the transaction holding their events committed.
// Failure policy: a failed commit is retried (every 500 ms) with the same
// rows, so nothing accepted is lost; meanwhile Writable() reports
// `store_unavailable` and the hub refuses new publishes with 503.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"
#include "metrics/metrics.h"

struct sqlite3;

namespace livehub {

enum class Durability { kMemory, kAsync, kSync };
Result<Durability> ParseDurability(std::string_view text);
const char* DurabilityName(Durability d);

// Stored history bounds per stream (0 = unbounded for that dimension).
struct RetentionLimits {
  uint64_t max_events = 10'000'000;
  uint64_t max_bytes = 1ull << 30;
  int64_t max_age_ms = 7LL * 24 * 3600 * 1000;
};

struct StoreOptions {
  std::string path;                   // the database file
  size_t max_queue_events = 500'000;  // uncommitted events; past it publishes get 503
  size_t max_batch_events = 50'000;   // events per transaction
  int64_t retention_interval_ms = 1000;
  int64_t async_commit_delay_ms = 10;  // async-only batches gather this long
  uint64_t max_db_bytes = 0;           // 0: bounded by the disk only
  bool tool = false;                   // offline tools: keep the previous run's crash flag as it is
};

// Takes an exclusive lock on `dir`/LOCK so one data directory is used by one
// process at a time (a hub, or an offline `livehub store` tool). Returns the
// lock's file descriptor (keep it open), or an error naming the holder.
Result<int> LockDataDir(const std::string& dir);

struct StoredStream {
  int64_t id = 0;
  std::string name;
  std::string epoch;
  int64_t created_ms = 0;
  uint64_t first_seq = 1;  // oldest stored (last_seq + 1 when none)
  uint64_t last_seq = 0;   // high-water mark: survives retention
  int64_t last_ts_ms = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;
};

struct StoredEvent {
  uint64_t seq = 0;
  int64_t ts_ms = 0;
  std::string data;
};

// One event to write. `data` must stay valid until committed: `keep` owns it.
struct StoreRecord {
  uint64_t seq = 0;
  int64_t ts_ms = 0;
  std::string_view data;
  std::shared_ptr<const void> keep;
};

class Store {
 public:
  // Opens (creating if needed) the database. Refuses a damaged or foreign
  // file with a message that names it and the fix.
  static Result<std::unique_ptr<Store>> Open(StoreOptions options, MetricsRegistry* metrics);
  ~Store();  // commits what is queued, then stops the writer
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The streams stored at open, by name.
  const std::vector<StoredStream>& loaded() const { return loaded_; }
  // True if the previous run did not stop cleanly (a crash or kill -9).
  bool previous_run_crashed() const { return previous_run_crashed_; }

  // Registers a stream and returns its id; the row is written with the
  // next commit. For a loaded stream, returns its id and updates its epoch.
  int64_t AddStream(const std::string& name, const std::string& epoch, int64_t created_ms,
                    uint64_t last_seq);
  void SetRetention(int64_t stream_id, RetentionLimits limits);

  // OK, or `store_unavailable` while commits fail or the queue is full.
  Status Writable() const;
  // Queues events of one stream (ascending seqs). `done` may be empty; a
  // non-empty `done` marks a `sync` publish: its transaction is fsynced.
  void Enqueue(int64_t stream_id, std::vector<StoreRecord> records, std::function<void()> done);
  // Queues a connector cursor, written in the same transaction as the events
  // queued before it.
  void PutCursor(const std::string& source, const std::string& key, const std::string& value);
  std::optional<std::string> GetCursor(const std::string& source, const std::string& key);

  // Reads stored events of a stream with from_seq <= seq <= to_seq, oldest
  // first, up to `limit` events or about `max_bytes` of data.
  Status Read(int64_t stream_id, uint64_t from_seq, uint64_t to_seq, size_t limit, size_t max_bytes,
              std::vector<StoredEvent>* out);
  // Oldest stored seq of a stream (last_seq + 1 if none), and the newest
  // committed one.
  uint64_t FirstSeq(int64_t stream_id) const;
  uint64_t LastSeq(int64_t stream_id) const;

  // Blocks until everything queued before the call is committed (or
  // `timeout_ms` passes). Returns false on timeout.
  bool Flush(int64_t timeout_ms);

  const std::string& path() const { return options_.path; }

 private:
  struct Op {
    enum Kind { kEvents, kStream, kCursor } kind = kEvents;
    int64_t stream_id = 0;
    std::vector<StoreRecord> records;
    std::function<void()> done;
    bool sync = false;    // a publisher waits for this commit: fsync it
    std::string a, b, c;  // kStream: name, epoch; kCursor: source, key, value
    int64_t n = 0;        // kStream: created_ms
  };
  struct StreamState {
    std::string name;
    std::string epoch;
    int64_t created_ms = 0;
    uint64_t first_seq = 1;
    uint64_t last_seq = 0;
    int64_t last_ts_ms = 0;
    uint64_t events = 0;
    uint64_t bytes = 0;
    int64_t first_ts_ms = -1;  // ts of the oldest stored event; -1: not known
    RetentionLimits retention;
    bool has_retention = false;
  };

  Store(StoreOptions options, MetricsRegistry* metrics);
  Status Init();
  void WriterLoop();
  Status Commit(std::vector<Op>& ops, size_t* events, size_t* bytes);
  void OnCommitted(std::vector<Op>& batch, size_t events, int64_t latency_ns);
  Status ApplyRetention(int64_t now_ms, uint64_t* deleted);
  Status DeletePrefix(int64_t id, StreamState* st, uint64_t keep_from_seq, uint64_t* deleted);
  Status Exec(sqlite3* db, const char* sql);

  const StoreOptions options_;
  sqlite3* wdb_ = nullptr;        // writer thread (and Init)
  sqlite3* rdb_ = nullptr;        // readers, under read_mu_ (set by Init)
  bool synchronous_full_ = true;  // writer thread
  Mutex read_mu_;
  // Set by Init (before Open returns), then read-only.
  std::vector<StoredStream> loaded_;
  bool previous_run_crashed_ = false;

  mutable Mutex mu_;
  // condition_variable_any: it waits on a MutexLock (std::condition_variable
  // takes only std::unique_lock<std::mutex>, which the analysis cannot follow).
  std::condition_variable_any cv_;       // writer wake-up
  std::condition_variable_any flushed_;  // commit progress
  std::deque<Op> queue_ GUARDED_BY(mu_);
  size_t queued_events_ GUARDED_BY(mu_) = 0;
  uint64_t enqueued_ops_ GUARDED_BY(mu_) = 0;   // ops ever queued
  uint64_t committed_ops_ GUARDED_BY(mu_) = 0;  // ops ever committed
  bool stop_ GUARDED_BY(mu_) = false;
  bool idle_ GUARDED_BY(mu_) = false;           // the writer waits for work (wake it)
  size_t queued_sync_ops_ GUARDED_BY(mu_) = 0;  // sync publishes waiting in queue_
  std::string failure_ GUARDED_BY(mu_);         // non-empty while commits fail
  std::unordered_map<int64_t, StreamState> streams_ GUARDED_BY(mu_);
  std::unordered_map<std::string, int64_t> ids_ GUARDED_BY(mu_);  // name -> id
  int64_t next_id_ GUARDED_BY(mu_) = 1;
  std::thread writer_;

  // Metrics.
  Histogram* commit_latency_ = nullptr;
  Counter* committed_events_ = nullptr;
  Counter* commits_ = nullptr;
  Counter* failures_ = nullptr;
  Counter* retention_deleted_ = nullptr;
  Gauge* queue_depth_ = nullptr;
  Gauge* db_bytes_ = nullptr;
};

}  // namespace livehub
