// Status and Result<T>: how core logic reports expected failures.
// Thread safety: value types; safe to copy between threads.
// Every non-OK status carries a machine-readable `reason` (snake_case, sent to
// clients as error.code) and a human message that names what was wrong and
// where (line, field, limit and its value).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace livehub {

// One code per meaning; HttpStatusFor below is the one table from codes to
// HTTP statuses (WebSocket `error` messages carry the same `reason`).
enum class StatusCode {
  kOk,
  kInvalidArgument,    // bad input from a client, file or config -> 400
  kUnauthenticated,    // no credential, or one that does not verify -> 401
  kPermissionDenied,   // a verified credential without the grant; a refused origin -> 403
  kNotFound,           // -> 404
  kMethodNotAllowed,   // the path exists, the method does not -> 405
  kEvicted,            // requested history no longer held -> 410
  kTooLarge,           // a size limit bit (body, message) -> 413
  kUrlTooLong,         // the request target is over limits.max_url_bytes -> 414
  kUnsupportedFormat,  // a Content-Type the endpoint does not read -> 415
  kUpgradeRequired,    // a protocol endpoint reached without its upgrade -> 426
  kResourceExhausted,  // a count or rate limit bit (streams, publish rate) -> 429
  kHeadersTooLarge,    // request headers over limits.max_header_bytes -> 431
  kUnavailable,        // temporarily unable (store down, connection limits) -> 503
  kInternal,           // a bug -> 500
};

class Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string reason, std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(reason), std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(StatusCode::kNotFound, "not_found", std::move(message));
  }
  static Status Evicted(std::string message) {
    return Status(StatusCode::kEvicted, "evicted", std::move(message));
  }
  static Status PermissionDenied(std::string message) {
    return Status(StatusCode::kPermissionDenied, "forbidden", std::move(message));
  }
  static Status PermissionDenied(std::string reason, std::string message) {
    return Status(StatusCode::kPermissionDenied, std::move(reason), std::move(message));
  }
  // `reason`: unauthorized (no credential), invalid_token, token_expired, ...
  static Status Unauthenticated(std::string reason, std::string message) {
    return Status(StatusCode::kUnauthenticated, std::move(reason), std::move(message));
  }
  static Status MethodNotAllowed(std::string message) {
    return Status(StatusCode::kMethodNotAllowed, "method_not_allowed", std::move(message));
  }
  static Status UrlTooLong(std::string message) {
    return Status(StatusCode::kUrlTooLong, "url_too_long", std::move(message));
  }
  static Status UnsupportedFormat(std::string reason, std::string message) {
    return Status(StatusCode::kUnsupportedFormat, std::move(reason), std::move(message));
  }
  static Status UpgradeRequired(std::string message) {
    return Status(StatusCode::kUpgradeRequired, "upgrade_required", std::move(message));
  }
  static Status HeadersTooLarge(std::string message) {
    return Status(StatusCode::kHeadersTooLarge, "headers_too_large", std::move(message));
  }
  static Status TooLarge(std::string reason, std::string message) {
    return Status(StatusCode::kTooLarge, std::move(reason), std::move(message));
  }
  static Status ResourceExhausted(std::string reason, std::string message) {
    return Status(StatusCode::kResourceExhausted, std::move(reason), std::move(message));
  }
  static Status Unavailable(std::string message) {
    return Status(StatusCode::kUnavailable, "unavailable", std::move(message));
  }
  static Status Unavailable(std::string reason, std::string message) {
    return Status(StatusCode::kUnavailable, std::move(reason), std::move(message));
  }
  static Status Internal(std::string message) {
    return Status(StatusCode::kInternal, "internal", std::move(message));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }

  // Optional location of the error inside a request body (1-based line).
  std::optional<int64_t> line() const { return line_; }
  Status& WithLine(int64_t line) {
    line_ = line;
    return *this;
  }
  // Optional retry hint: when trying again may succeed (a rate limit, a
  // connection limit, a store that is down). HTTP sends it as Retry-After
  // (whole seconds, rounded up), WebSocket as "retry_after_ms".
  std::optional<int64_t> retry_after_ms() const { return retry_after_ms_; }
  Status& WithRetryAfterMs(int64_t ms) {
    retry_after_ms_ = ms;
    return *this;
  }
  // Optional numeric detail (e.g. the oldest available seq for kEvicted).
  std::optional<uint64_t> detail() const { return detail_; }
  Status& WithDetail(uint64_t v) {
    detail_ = v;
    return *this;
  }

  // Optional extra members for the JSON error object, serialised, each
  // starting with ',' (e.g. `,"field":"temp","expected":"float"`).
  const std::string& fields() const { return fields_; }
  Status& WithFields(std::string json_members) {
    fields_ = std::move(json_members);
    return *this;
  }

  std::string ToString() const { return ok() ? "ok" : reason_ + ": " + message_; }

 private:
  Status(StatusCode code, std::string reason, std::string message)
      : code_(code), reason_(std::move(reason)), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string reason_;
  std::string message_;
  std::optional<int64_t> line_;
  std::optional<uint64_t> detail_;
  std::optional<int64_t> retry_after_ms_;
  std::string fields_;
};

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Status> v_;
};

// The HTTP status of a Status: the one table (REST replies, refusals before
// a WebSocket or SSE upgrade).
inline int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kMethodNotAllowed:
      return 405;
    case StatusCode::kEvicted:
      return 410;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kUrlTooLong:
      return 414;
    case StatusCode::kUnsupportedFormat:
      return 415;
    case StatusCode::kUpgradeRequired:
      return 426;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kHeadersTooLarge:
      return 431;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

// The Retry-After a reply carries, in ms: the status's hint, else 1 s for a
// limit (429) or an unavailable hub (503); nullopt for other codes.
inline std::optional<int64_t> RetryAfterMsFor(const Status& s) {
  if (s.retry_after_ms()) return s.retry_after_ms();
  if (s.code() == StatusCode::kResourceExhausted || s.code() == StatusCode::kUnavailable) {
    return 1'000;
  }
  return std::nullopt;
}

}  // namespace livehub
