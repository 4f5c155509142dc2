// OutboundQueue: one subscriber connection's bounded queue of messages to
// write, transport-neutral. It owns the byte accounting against the
// connection's budget (subscribers.queue_bytes), the `drop_oldest` policy
// with the `gap` ranges it owes the client, and the hand-over of a batch to
// the write loop. What a message looks like on the wire is the transport's
// business (SubscriberSession::EncodeBatch).
//
// bytes() counts three things: pending items, the batch in flight (taken,
// not yet completed, events read from a stream's log included: AddInflight)
// and events held back by max_hz coalescing (they live in the session's
// per-stream state; Hold/Unhold charge them here so one budget covers all
// three). Events a connection has not yet read from its streams' logs are
// not queued here at all (see SubscriberSession::OnLogAppend); the session
// counts them against the same budget.
// Invariant (checked by CheckInvariant in debug and sanitizer builds):
//   bytes() == sum(pending items' charge()) + inflight_bytes() + held_bytes()
//   and every pending gap range names seqs in increasing order per stream.
// Thread safety: not thread-safe. SubscriberSession guards it with its mu_
// (publisher threads push, the session thread takes and completes).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metrics/metrics.h"
#include "stream/event.h"

namespace livehub {

enum class ItemKind : uint8_t { kEvent, kControl, kRaw };

// One queued message: 32 bytes, as a connection queues one per pushed event
// (catch-up, max_hz streams; events it reads from a stream's log are only
// wrapped in one while in flight).
// What only control messages need lives behind `ctl`.
struct OutItem {
  struct Control {
    std::string text;          // kControl: JSON message; kRaw: wire bytes
    const char* type = "";     // kControl: message type (SSE `event:`)
    Stream* stream = nullptr;  // kControl gap/batch: cursor update
    uint64_t seq = 0;
    // kControl "batch" (max_hz coalescing): the events it carries, for
    // slow-client drop accounting and delivery metrics.
    std::vector<EventPtr> batch;
    size_t batch_charge = 0;
  };
  ItemKind kind = ItemKind::kEvent;
  EventPtr event;                // kEvent
  std::unique_ptr<Control> ctl;  // kControl, kRaw

  static OutItem ForEvent(EventPtr ev) {
    OutItem it;
    it.event = std::move(ev);
    return it;
  }
  // A control message (`gap`, `batch`, a reply); `stream`/`seq` advance the
  // SSE cursor when it is written.
  static OutItem ForControl(const char* type, std::string json, Stream* stream = nullptr,
                            uint64_t seq = 0);
  // Bytes written as they are (a handshake reply, a close frame).
  static OutItem ForRaw(std::string bytes);

  size_t charge() const {
    return event ? event->charge() : ControlCharge(ctl->text.size()) + ctl->batch_charge;
  }
  // Events in it: what the slow-client policy may drop and what counts as
  // a delivery.
  bool carries_events() const { return event || !ctl->batch.empty(); }
  // What a control item with `text_bytes` of text counts against the
  // queue budget (without a max_hz batch's events).
  static constexpr size_t ControlCharge(size_t text_bytes) {
    return text_bytes + sizeof(OutItem) + sizeof(Control);
  }
};

class OutboundQueue {
 public:
  // `queued` (livehub_outbound_queue_bytes) follows bytes(); `drops`
  // (livehub_drops_total{reason="slow_client"}) counts dropped events.
  // `mirror`, if set, is stored bytes() at every change: the owner reads it
  // without its lock (a publisher's fast budget check; exact under it).
  OutboundQueue(size_t budget_bytes, Gauge* queued, Counter* drops,
                std::atomic<size_t>* mirror = nullptr);
  ~OutboundQueue();
  OutboundQueue(const OutboundQueue&) = delete;
  OutboundQueue& operator=(const OutboundQueue&) = delete;

  size_t budget() const { return budget_; }
  size_t bytes() const { return bytes_; }
  size_t held_bytes() const { return held_bytes_; }
  size_t inflight_bytes() const { return inflight_bytes_; }
  size_t pending_items() const { return items_.size() - head_; }
  // Items or gaps wait to be written.
  bool HasPending() const { return head_ < items_.size() || !gaps_.empty(); }
  // True if `charge` more bytes fit the budget.
  bool Fits(size_t charge) const { return bytes_ + charge <= budget_; }
  // A write's worth waits (max_items items, or max_bytes besides what
  // max_hz holds): pacing it would gain nothing.
  // `extra_bytes` wait elsewhere (unread log events).
  bool FullBatch(size_t max_items, size_t max_bytes, size_t extra_bytes = 0) const {
    return pending_items() >= max_items || bytes_ - held_bytes_ + extra_bytes >= max_bytes;
  }

  // Appends and charges an item (the caller checked Fits or applied the
  // slow-client policy first).
  void Push(OutItem item);
  // Charges / releases bytes of events held back by max_hz.
  void Hold(size_t charge);
  void Unhold(size_t charge);

  // drop_oldest: drops pending items that carry events, oldest first, until
  // bytes() + need_bytes is at most half the budget (hysteresis: a stalled
  // client costs one compaction per half-queue of events, not one per
  // event). Control messages (replies, gaps) are never dropped. Every
  // dropped event is owed to the client as a `slow_client` gap.
  void DropOldest(size_t need_bytes);
  // True while bytes() + need_bytes is over DropOldest's target.
  bool OverDropTarget(size_t need_bytes) const { return bytes_ + need_bytes > budget_ / 2; }
  // Records one event the client will not get (a dropped or refused one):
  // merged into the stream's last gap range when contiguous.
  void AddDropped(Stream* stream, uint64_t seq) { AddDroppedRange(stream, seq, seq); }
  // The same for the events [from_seq, to_seq] of one stream.
  void AddDroppedRange(Stream* stream, uint64_t from_seq, uint64_t to_seq);
  // Counts `n` dropped events whose gap the caller sends itself (a log
  // cursor's: Stream::ReadLog returns it in order).
  void CountDropped(uint64_t n);
  // The `gap` message (reason slow_client) for [from_seq, to_seq].
  static OutItem GapItem(Stream* stream, uint64_t from_seq, uint64_t to_seq);
  // `disconnect`: releases every pending item; what is in flight stays.
  void ClearPending();
  // The connection closed: releases everything (pending, in flight, held,
  // owed gaps) and the memory of the queue itself.
  void Release();

  // The next batch for the write loop: the owed gaps first (every queued
  // event of their stream is newer), then up to max_items items or
  // max_bytes. Appends to *out and charges them as in flight; returns true
  // if the batch carries events (not only replies).
  bool TakeBatch(std::vector<OutItem>* out, size_t max_items, size_t max_bytes);
  // Events the write loop added to the batch from a stream's log: charged
  // as in flight until CompleteBatch.
  void AddInflight(size_t charge);
  // The batch in flight was written (or abandoned): releases its bytes.
  void CompleteBatch();

  // Dropped events not yet reported on $sys/events, at most once a second:
  // the count since the last report, or 0.
  uint64_t TakeDropReport(int64_t now_ns);

  // Aborts (debug and sanitizer builds) if the invariant does not hold.
  void CheckInvariant() const;

 private:
  struct PendingGap {
    Stream* stream;
    uint64_t from_seq;
    uint64_t to_seq;
  };
  void Charge(int64_t delta);  // bytes_ and the gauge

  const size_t budget_;
  Gauge* queued_;
  Counter* drops_;
  std::vector<OutItem> items_;
  size_t head_ = 0;  // first pending item
  size_t bytes_ = 0;
  std::atomic<size_t>* mirror_;  // may be null
  size_t held_bytes_ = 0;
  size_t inflight_bytes_ = 0;
  std::vector<PendingGap> gaps_;
  uint64_t dropped_since_report_ = 0;
  int64_t last_drop_report_ns_ = 0;
};

}  // namespace livehub
