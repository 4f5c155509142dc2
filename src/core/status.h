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

enum class StatusCode {
  kOk,
  kInvalidArgument,    // bad input from a client, file or config -> 400
  kNotFound,           // -> 404
  kEvicted,            // requested history no longer held -> 410
  kPermissionDenied,   // -> 403
  kTooLarge,           // a size limit bit -> 413
  kResourceExhausted,  // a count limit bit (streams, connections) -> 429/503
  kUnavailable,        // temporarily unable (store down, shutting down) -> 503
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

 private:
  std::variant<T, Status> v_;
};

// HTTP status for a Status code (used by the REST layer and `error` messages).
inline int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kEvicted:
      return 410;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace livehub
