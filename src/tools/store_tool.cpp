// `livehub store check|export|import`: tools for the embedded store.
// check and export only read (a consistent WAL snapshot), so they also work
// beside a running hub; import writes, so it takes the data directory's lock
// and refuses to run beside a hub that uses the same directory.
#include <simdjson.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "codec/body_decoder.h"
#include "core/clock.h"
#include "core/json_writer.h"
#include "store/store.h"
#include "stream/pattern.h"
#include "tools/tools.h"

namespace livehub {
namespace {

std::string DbPath(const std::string& dir) {
  return (std::filesystem::path(dir) / "livehub.db").string();
}

// Opens the database read-only, without creating it.
sqlite3* OpenReadOnly(const std::string& dir) {
  const std::string path = DbPath(dir);
  if (!std::filesystem::exists(path)) {
    std::cerr << "livehub store: no store at '" << path << "' (use --data-dir)\n";
    return nullptr;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::cerr << "livehub store: cannot open '" << path << "': " << sqlite3_errmsg(db) << "\n";
    sqlite3_close(db);
    return nullptr;
  }
  return db;
}

}  // namespace

int RunStoreCheck(const std::string& dir) {
  sqlite3* db = OpenReadOnly(dir);
  if (!db) return 2;
  int problems = 0;
  sqlite3_stmt* st = nullptr;
  std::cout << "store: " << DbPath(dir) << "\n";
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) != SQLITE_OK) {
    std::cout << "integrity: cannot run (" << sqlite3_errmsg(db)
              << ") - the file is not a readable livehub store\n";
    sqlite3_close(db);
    return 1;
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string line = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    if (line != "ok") ++problems;
    std::cout << "integrity: " << line << "\n";
  }
  sqlite3_finalize(st);
  const char* q =
      "SELECT s.name, s.epoch, s.first_seq, s.last_seq, s.events, s.bytes, "
      "(SELECT count(*) FROM events e WHERE e.stream_id=s.id), "
      "(SELECT min(seq) FROM events e WHERE e.stream_id=s.id), "
      "(SELECT max(seq) FROM events e WHERE e.stream_id=s.id) FROM streams s ORDER BY s.name";
  if (sqlite3_prepare_v2(db, q, -1, &st, nullptr) != SQLITE_OK) {
    std::cout << "streams: cannot read (" << sqlite3_errmsg(db) << ")\n";
    sqlite3_close(db);
    return 1;
  }
  std::cout << "stream\tepoch\tfirst_seq\tlast_seq\tevents\tbytes\tcheck\n";
  while (sqlite3_step(st) == SQLITE_ROW) {
    const int64_t first = sqlite3_column_int64(st, 2), last = sqlite3_column_int64(st, 3);
    const int64_t events = sqlite3_column_int64(st, 4), counted = sqlite3_column_int64(st, 6);
    const bool empty = sqlite3_column_type(st, 7) == SQLITE_NULL;
    const int64_t min = sqlite3_column_int64(st, 7), max = sqlite3_column_int64(st, 8);
    std::string verdict = "ok";
    if (counted != events) {
      verdict = "count " + std::to_string(counted) + " != recorded " + std::to_string(events);
    } else if (!empty && (min != first || max > last || max - min + 1 != counted)) {
      verdict = "seqs " + std::to_string(min) + ".." + std::to_string(max) +
                " do not match the recorded range or have holes";
    }
    if (verdict != "ok") ++problems;
    std::cout << sqlite3_column_text(st, 0) << "\t" << sqlite3_column_text(st, 1) << "\t" << first
              << "\t" << last << "\t" << events << "\t" << sqlite3_column_int64(st, 5) << "\t"
              << verdict << "\n";
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::cout << (problems ? "problems: " + std::to_string(problems) : std::string("store ok"))
            << "\n";
  return problems ? 1 : 0;
}

int RunStoreExport(const std::string& dir, const std::string& stream, uint64_t from_seq) {
  sqlite3* db = OpenReadOnly(dir);
  if (!db) return 2;
  sqlite3_stmt* st = nullptr;
  const char* q =
      "SELECT e.seq, e.ts_ms, e.data FROM events e JOIN streams s ON s.id=e.stream_id "
      "WHERE s.name=?1 AND e.seq>=?2 ORDER BY e.seq";
  if (sqlite3_prepare_v2(db, q, -1, &st, nullptr) != SQLITE_OK) {
    std::cerr << "livehub store export: " << sqlite3_errmsg(db) << "\n";
    sqlite3_close(db);
    return 1;
  }
  sqlite3_bind_text(st, 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, static_cast<int64_t>(from_seq));
  uint64_t n = 0;
  std::string line;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    line.clear();
    JsonWriter w(&line);
    w.BeginObject().Field("seq", static_cast<uint64_t>(sqlite3_column_int64(st, 0)));
    w.Field("ts", static_cast<int64_t>(sqlite3_column_int64(st, 1))).Key("data");
    w.Raw(std::string_view(static_cast<const char*>(sqlite3_column_blob(st, 2)),
                           static_cast<size_t>(sqlite3_column_bytes(st, 2))));
    w.EndObject();
    std::cout << line << "\n";
    ++n;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (rc != SQLITE_DONE) {
    std::cerr << "livehub store export: read failed after " << n << " events\n";
    return 1;
  }
  std::cerr << "livehub store export: " << n << " events of '" << stream << "'\n";
  return 0;
}

int RunStoreImport(const std::string& dir, const std::string& stream, const std::string& file) {
  if (Status st = ValidateStreamName(stream); !st.ok()) {
    std::cerr << "livehub store import: " << st.message() << "\n";
    return 2;
  }
  auto lock = LockDataDir(dir);
  if (!lock.ok()) {
    std::cerr << "livehub store import: " << lock.status().message() << "\n";
    return 2;
  }
  std::string body;
  {
    std::istream* in = &std::cin;
    std::ifstream f;
    if (file != "-") {
      f.open(file, std::ios::binary);
      if (!f) {
        std::cerr << "livehub store import: cannot read '" << file << "'\n";
        return 2;
      }
      in = &f;
    }
    body.assign(std::istreambuf_iterator<char>(*in), std::istreambuf_iterator<char>());
  }
  // Lines as `livehub store export` writes them ({"seq","ts","data"}); the
  // data is appended with new seqs after the stream's watermark.
  std::vector<std::string> lines;
  DecodeLimits limits;
  limits.max_batch_events = SIZE_MAX;
  limits.max_event_bytes = 64u << 20;
  if (Status st = DecodeBody(BodyFormat::kNdjson, body, limits, &lines); !st.ok()) {
    std::cerr << "livehub store import: " << st.message() << "\n";
    return 1;
  }
  auto datas = std::make_shared<std::vector<std::string>>();
  std::vector<int64_t> tss;
  simdjson::dom::parser parser;
  const int64_t now = SystemClock::Get()->NowMs();
  for (size_t i = 0; i < lines.size(); ++i) {
    simdjson::dom::element doc, data;
    int64_t ts = now;
    if (parser.parse(lines[i]).get(doc) || doc["data"].get(data)) {
      std::cerr << "livehub store import: line " << i + 1
                << ": expected {\"seq\",\"ts\",\"data\"} as written by `livehub store export`\n";
      return 1;
    }
    if (doc["ts"].get(ts)) ts = now;  // optional
    datas->push_back(simdjson::minify(data));
    tss.push_back(ts);
  }
  MetricsRegistry metrics;
  StoreOptions o;
  o.path = DbPath(dir);
  o.tool = true;
  auto store = Store::Open(o, &metrics);
  if (!store.ok()) {
    std::cerr << "livehub store import: " << store.status().message() << "\n";
    return 2;
  }
  uint64_t last = 0;
  std::string epoch;
  int64_t created = now;
  for (const StoredStream& s : (*store)->loaded()) {
    if (s.name == stream) {
      last = s.last_seq;
      epoch = s.epoch;
      created = s.created_ms;
    }
  }
  if (epoch.empty()) epoch = "i" + std::to_string(now);  // a new stream: its own epoch
  const int64_t id = (*store)->AddStream(stream, epoch, created, last);
  std::vector<StoreRecord> recs;
  int64_t prev_ts = 0;
  for (size_t i = 0; i < datas->size(); ++i) {
    prev_ts = std::max(prev_ts, tss[i]);  // ts never goes backwards within a stream
    recs.push_back(StoreRecord{last + 1 + i, prev_ts, (*datas)[i], datas});
  }
  (*store)->Enqueue(id, std::move(recs), nullptr);
  if (!(*store)->Flush(600'000)) {
    std::cerr << "livehub store import: the store did not commit within 10 minutes\n";
    return 1;
  }
  std::cerr << "livehub store import: " << datas->size() << " events appended to '" << stream
            << "' as seq " << last + 1 << ".." << last + datas->size() << "\n";
  return 0;
}

}  // namespace livehub
