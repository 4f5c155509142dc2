// SubscriberSession: what WebSocket and SSE connections have in common — the
// set of subscribed patterns and attached streams, resume/catch-up, the
// bounded outbound queue with its slow-client policy, and the write loop that
// gathers many queued frames into one write.
//
// Threading: each session is bound to one io_context, run by one thread (the
// "session thread"); socket I/O, timers, op handling, catch-up and log reads
// happen there. OnEvent/OnGap/OnLogAppend/OnStreamCreated are called from
// publisher threads (with a Stream's mutex or the Hub registry lock held)
// and only touch state guarded by mu_ (OnLogAppend: log_bytes_, and mu_ only
// to wake the session), then hand the session to its thread's WriteKicks
// list. Streams without max_hz are read from the stream's log by cursor
// (see OnLogAppend, ReadLogs and docs/architecture.md, "The stream's log").
// Lock order: Hub registry -> Stream -> mu_ -> the io_context's WriteKicks
// list (KickLocked). The session never holds mu_ while calling into a
// Stream or the Hub.
// Memory: an idle session holds no read buffer (reads wait for readability
// and use a per-thread buffer) and an empty queue.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.h"
#include "fanout/access.h"
#include "fanout/admission.h"
#include "fanout/fanout_options.h"
#include "fanout/outbound_queue.h"
#include "fanout/subscriptions.h"
#include "fanout/write_pacer.h"
#include "stream/hub.h"

namespace livehub {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A resume position for one stream.
struct StreamCursor {
  std::string epoch;
  uint64_t seq = 0;  // last seq the client has
};
using CursorMap = std::unordered_map<std::string, StreamCursor>;

// Closes every live session on its own thread and waits (up to `timeout`)
// until all have detached from their streams. Call before stopping the io
// threads, so no session outlives them.
void CloseAllSessions(FanoutContext* ctx, std::chrono::milliseconds timeout);

class SubscriberSession : public Subscriber,
                          public StreamWatcher,
                          public PacedWriter,
                          public std::enable_shared_from_this<SubscriberSession> {
 public:
  SubscriberSession(FanoutContext* ctx, asio::io_context& ioc, tcp::socket socket);
  ~SubscriberSession() override;

  // Subscriber / StreamWatcher (any thread).
  void OnEvent(const EventPtr& ev) override;
  void OnEvents(const EventPtr* evs, size_t n) override;
  void OnGap(Stream* stream, uint64_t from_seq, uint64_t to_seq, std::string_view reason) override;
  void OnStreamCreated(Stream* stream) override;
  void OnNotice(const char* type, const std::string& json) override;
  // The live path of a stream without max_hz: the session is a cursor into
  // the stream's log (AttachMode::kLogCursor). An append costs an atomic
  // add to log_bytes_ and, once per wake-up, mu_ and a kick; the write loop
  // reads the events itself (ReadLogs). Over the queue budget it applies
  // the slow-client policy here (LogOverBudget).
  LogVerdict OnLogAppend(Stream* stream, size_t added_bytes, bool wake) override;
  void OnLogDropped(Stream* stream, uint64_t from_seq, uint64_t to_seq, size_t bytes,
                    bool report) override;

  uint64_t id() const { return id_; }
  // What this connection may read and write (default: everything). Set
  // before Run(); a `refresh` replaces it.
  void SetAccess(std::shared_ptr<const Access> access);
  // The connection's per-IP slot and its peer address (set by the server
  // before Run; the peer address matters when the socket is a TLS pump's
  // socketpair, which has no IP peer).
  void AdoptPeer(std::shared_ptr<PeerTicket> ticket, std::string peer) {
    ticket_ = std::move(ticket);
    if (!peer.empty()) peer_ = std::move(peer);
  }
  friend void CloseAllSessions(FanoutContext* ctx, std::chrono::milliseconds timeout);

  // PacedWriter (session thread). The pacer's call is ignored unless it is
  // for the current deferral (a kick for a full batch may have resumed the
  // session since). A kick resumes a paced session: it is sent only for a
  // full batch (PushLocked) or finds nothing new.
  void ResumePacedWrite(uint64_t token) override;
  void RunKickedWrite() override;
  void CompleteWrite() override;

 protected:
  // ----- The connection's life, as publishers see it (lifecycle_, mu_) -----
  //   state         accepts                       entered by
  //   kOpen         events, replies, raw bytes    construction
  //   kClosing      raw bytes (the close frame),  CloseAfterFlush; the slow-client
  //                 unread log events moved to    `disconnect` policy (posts it)
  //                 the queue (MaterializeLogs)
  //   kCloseQueued  raw bytes                     CloseAfterFlush, its close frame queued
  //   kClosed       nothing                       CloseNow, FinishClose; OnWrite once
  //                                               a queued close is written
  // It only moves down the table (AdvanceLocked).
  enum class Lifecycle : uint8_t { kOpen, kClosing, kCloseQueued, kClosed };

  // ----- Who starts the next write, as publishers see it (schedule_, mu_) -----
  //   kNone        nothing scheduled: a push kicks the session (-> kScheduled)
  //   kScheduled   a kick is pending, the write loop runs, a write is in
  //                flight or paced with a full batch: a push only queues
  //   kPacedSmall  paced (write_delay_ms) with a small batch: the push that
  //                fills a batch kicks it (-> kScheduled)
  // Back to kNone when the write loop finds nothing left to write.
  enum class Schedule : uint8_t { kNone, kScheduled, kPacedSmall };

  // ----- The write loop (write_state_, session thread only) -----
  //   kIdle     DoWriteOnce takes a batch (-> kWriting) or paces a small one
  //             (-> kPaced)
  //   kPaced    in the thread's WritePacer: ResumePacedWrite with the current
  //             token, or a kick (RunKickedWrite), -> kIdle, then it writes
  //   kWriting  a batch is being written (WriteNow, WriteSome); OnWrite -> kIdle
  //   kClosed   FinishClose ran: every handler returns at once
  enum class WriteState : uint8_t { kIdle, kPaced, kWriting, kClosed };

  // The most items one write gathers (with write_batch_bytes).
  static constexpr size_t kMaxBatchItems = 1024;
  static int64_t MonoNowNs() { return SystemClock::Get()->MonoNs(); }

  // Wire bytes up to this size are copied into the batch's scratch buffer
  // rather than given an iovec of their own (see EncodeBatch).
  static constexpr size_t kInlineWireBytes = 512;
  // A scratch buffer grown beyond this by a large batch is released after
  // the write, so a quiet connection does not keep it.
  static constexpr size_t kKeepScratchBytes = 8192;

  // Wire format hooks (session thread). AppendWire appends, for each item,
  // the scratch bytes and buffers that put it on the wire.
  virtual void EncodeBatch(std::vector<OutItem>& items, std::string* scratch,
                           std::vector<asio::const_buffer>* bufs) = 0;
  // Starts reading (after Start()).
  virtual void StartReading() = 0;
  // Called on each timer tick (session thread) with the monotonic time.
  virtual void OnTick(int64_t now_ns) = 0;
  // Wire-specific close (e.g. a WebSocket close frame). Session thread.
  virtual void SendClose(uint16_t code, std::string_view reason) = 0;
  virtual const char* kind() const = 0;

  // Starts the timer and reading; call once from the session thread.
  void Start();

  // The byte sink (session thread; a seam for the write loop's unit tests,
  // default: the socket). WriteBytesNow writes what the sink takes at once
  // (would_block: none); AsyncWriteBytes writes some once it is writable and
  // then calls WrittenAsync.
  virtual size_t WriteBytesNow(std::span<const asio::const_buffer> bufs,
                               boost::system::error_code& ec);
  virtual void AsyncWriteBytes(std::span<const asio::const_buffer> bufs);
  void WrittenAsync(boost::system::error_code ec, size_t n) { OnWriteSome(ec, n); }

  // Subscribes to `patterns` (validated first, all or nothing). `from`
  // resumes listed streams; other matching streams start live, or from seq 1
  // with absent_from_start (an SSE resume: a stream missing from the cursor
  // was created after it). `max_hz` > 0 coalesces each newly subscribed
  // stream to at most that many deliveries per second (see HoldLocked).
  // Replies `subscribed` (with "id" if id >= 0) or an error. Returns false if
  // it sent an error.
  // Keyed streams send their `snapshot` first (then the events after its
  // seq) to a live-start subscription, and to any with `snapshot` true.
  bool Subscribe(int64_t id, const std::vector<std::string>& patterns, const CursorMap& from,
                 bool absent_from_start = false, double max_hz = 0, bool snapshot = false);
  void Unsubscribe(int64_t id, const std::vector<std::string>& patterns);
  std::vector<std::string> PatternTexts() const;
  std::shared_ptr<const Access> access() const;
  // `refresh` op: verifies `token`, replaces the connection's access (same
  // subject only), detaches streams the new grant no longer covers and
  // re-arms the expiry. Replies `refreshed` or an error.
  void Refresh(int64_t id, std::string_view token);
  // Sends a refusal (from Admission, the Publisher or an op's own checks)
  // as an `error` message and counts it in client_errors_total{reason}.
  void SendRefusal(int64_t id, const Status& st);

  // Queues a control message / raw bytes (session thread or any thread).
  void EnqueueControl(const char* type, std::string json, Stream* stream = nullptr,
                      uint64_t seq = 0);
  void EnqueueRaw(std::string bytes);
  // Sends an {"type":"error"} message.
  void SendError(int64_t id, std::string_view code, std::string_view message);
  // The same for a Status, with its line, retry hint ("retry_after_ms"),
  // oldest held seq (evicted) and extra fields (e.g. a schema refusal's
  // field, expected and actual types).
  void SendError(int64_t id, const Status& st);

  // Closes now: socket, timer, detaches everything. Idempotent.
  void CloseNow(std::string_view why);
  // Graceful: after queued data is written (bounded by a deadline), close.
  void CloseAfterFlush(uint16_t code, std::string reason);

  // SSE cursor: position per stream, updated as items are encoded.
  // Session thread only.
  void CursorAdvance(Stream* stream, uint64_t seq);
  const std::string& CursorText();

  void NoteRead(int64_t now_ns) { last_read_ns_ = now_ns; }
  int64_t last_read_ns() const { return last_read_ns_; }
  int64_t last_write_ns() const { return last_write_ns_; }
  bool write_in_flight() const { return write_state_ == WriteState::kWriting; }
  int64_t write_started_ns() const { return write_started_ns_; }

  FanoutContext* ctx_;
  asio::io_context& ioc_;
  tcp::socket socket_;
  const uint64_t id_;
  std::string peer_;
  std::shared_ptr<PeerTicket> ticket_;  // null when per-peer limits are off
  // The session thread's view of "closed": FinishClose ran.
  bool closed_local() const { return write_state_ == WriteState::kClosed; }

 private:
  // Attaches a stream for catch-up from start_seq (0 = live edge) and
  // returns the first seq it will deliver. Must not hold mu_.
  // With `snapshot` non-null, a keyed stream's snapshot is put there and
  // delivery starts after it.
  uint64_t AttachStream(Stream* stream, uint64_t start_seq, int64_t interval_ns,
                        std::string* snapshot = nullptr);
  void OnEventLocked(const EventPtr& ev) REQUIRES(mu_);
  // The `disconnect` slow-client policy: stop taking anything, drop what
  // is pending and close after what is in flight.
  void DisconnectSlowLocked() REQUIRES(mu_);
  LogVerdict LogOverBudget(Stream* stream, bool wake);
  void PushLocked(OutItem item) REQUIRES(mu_);
  // Something new waits (an item or unread log events): kick the session,
  // or a paced one whose batch is now full.
  void PokeLocked() REQUIRES(mu_);
  void KickLocked() REQUIRES(mu_);
  // Moves lifecycle_ forward to `to` (never back).
  void AdvanceLocked(Lifecycle to) REQUIRES(mu_);
  // A write's worth (items or bytes, max_hz-held ones aside) is queued:
  // pacing would gain nothing.
  bool FullBatchQueuedLocked() const REQUIRES(mu_);
  // Nothing is queued, owed, newly attached or catching up.
  bool NothingToWriteLocked() const REQUIRES(mu_);
  void DropOldestLocked(size_t need_bytes) REQUIRES(mu_);
  // Coalescing: HoldLocked returns true if `ev` was held rather than due
  // for delivery now; FlushLocked queues what `sub` holds.
  bool HoldLocked(Stream* stream, Subscriptions::StreamSub& sub, const EventPtr& ev) REQUIRES(mu_);
  void FlushLocked(Stream* stream, Subscriptions::StreamSub& sub, int64_t now_ns) REQUIRES(mu_);
  void DropHeldLocked(Subscriptions::StreamSub& sub, bool count_as_dropped) REQUIRES(mu_);
  // The one way out of a stream (unsubscribe, refresh, close): detaches
  // from each Stream, forgets its cursor and catch-up. Session thread,
  // without mu_ (what the streams held was released under it).
  void DetachStreams(const std::vector<Subscriptions::Detached>& detached);
  // The `batch` message of a keyed stream's held events, diffs conflated.
  void RenderConflatedBatch(Stream* stream, const std::vector<EventPtr>& held, std::string* out);
  void ArmCoalesceTimer();
  void OnCoalesceTimer(boost::system::error_code ec);
  void DoWrite();
  void DoWriteOnce();
  // Moves the ready streams' attachments to reads_ (they are read once the
  // queue is drained, so a stream's queued catch-up goes first).
  void TakeReadyLocked() REQUIRES(mu_);
  // Reads reads_' unread events into inflight_ within the batch's limits
  // (`items`, `bytes` already taken). Session thread, without mu_. Returns
  // the bytes read.
  size_t ReadLogs(size_t items, size_t bytes);
  // CloseAfterFlush: the unread log events go into the queue before the
  // close frame.
  void MaterializeLogs();
  // livehub_outbound_queue_bytes follows log_bytes_ at each write and tick.
  void SyncLogGauge();
  void WriteNow();  // writes bufs_ from write_next_ on, at once if the socket takes it
  // The io thread's encoding scratch; KeepScratch moves a waiting batch's
  // pieces out of it into scratch_.
  static std::string& ThreadScratch();
  void KeepScratch();
  void WriteSome();  // writes bufs_ from write_next_ on, when the socket is writable
  void OnWriteSome(boost::system::error_code ec, size_t n);
  bool AdvanceWritten(size_t n);  // skips n written bytes; true when all are
  void OnWrite(boost::system::error_code ec, size_t bytes);
  // Catches up attachments within the queue budget; true if any went live.
  bool RunCatchUp();
  void ArmTimer();
  void OnTimer(boost::system::error_code ec);
  // Closes with kCloseTokenExpired when the credential expires.
  void ArmExpiry();
  void OnExpiry(boost::system::error_code ec);
  void FinishClose();

  asio::steady_timer timer_;
  asio::steady_timer coalesce_timer_;
  asio::steady_timer expiry_timer_;
  WriteKicks* kicks_;  // the io_context's (asio service)

  // Taken by publisher threads (OnEvent, under a Stream's mutex) and the
  // session thread; never held while calling a Stream or the Hub.
  mutable Mutex mu_;
  // queue_.bytes() as last charged (the queue stores it), for OnLogAppend's
  // check without mu_.
  std::atomic<size_t> queue_bytes_{0};
  OutboundQueue queue_ GUARDED_BY(mu_);  // pending items, owed gaps, byte accounting
  Lifecycle lifecycle_ GUARDED_BY(mu_) = Lifecycle::kOpen;
  Schedule schedule_ GUARDED_BY(mu_) = Schedule::kNone;
  // The earliest flush the coalesce timer is set for (0: none).
  int64_t coalesce_due_ns_ GUARDED_BY(mu_) = 0;
  Subscriptions subs_ GUARDED_BY(mu_);                    // patterns and attached streams
  std::shared_ptr<const Access> access_ GUARDED_BY(mu_);  // never null
  // Attached by OnStreamCreated; the session thread starts their catch-up.
  std::vector<std::pair<Stream*, std::shared_ptr<Attachment>>> new_streams_ GUARDED_BY(mu_);
  // Cursor streams woken by an append and not yet read to their end (at
  // most one entry per attachment: its `signalled` flag).
  std::vector<Stream*> ready_ GUARDED_BY(mu_);
  // Unread log bytes of all cursor streams (their attachments'
  // unread_bytes summed): counted against queue_bytes with queue_.bytes().
  std::atomic<size_t> log_bytes_{0};

  // --- session thread only ---
  std::vector<OutItem> inflight_;
  std::vector<std::pair<Stream*, std::shared_ptr<Attachment>>> reads_;  // see TakeReadyLocked
  int64_t log_bytes_in_gauge_ = 0;                                      // see SyncLogGauge
  std::vector<asio::const_buffer> bufs_;
  size_t write_next_ = 0;        // first buffer of bufs_ not fully written
  size_t write_done_bytes_ = 0;  // bytes of this write written so far
  std::string scratch_;          // the batch's copied pieces while it waits (KeepScratch)
  std::vector<std::pair<Stream*, std::shared_ptr<Attachment>>> catching_up_;
  std::unordered_map<Stream*, uint64_t> cursor_;
  std::string cursor_text_;
  bool cursor_dirty_ = true;
  WriteState write_state_ = WriteState::kIdle;
  uint64_t pace_token_ = 0;     // the current deferral's (see ResumePacedWrite)
  bool in_write_loop_ = false;  // DoWrite is running (see there)
  bool write_again_ = false;    // ...and was asked for another round
  static constexpr int kSyncRounds = 4;
  int64_t write_started_ns_ = 0;
  // When the last write that carried events started: what write_delay_ms
  // counts from. A write of replies only (`subscribed`, `pong`) does not
  // hold back the events that follow it.
  int64_t events_written_ns_ = 0;
  int64_t last_read_ns_ = 0;
  int64_t last_write_ns_ = 0;
  int64_t close_deadline_ns_ = 0;
};

}  // namespace livehub
