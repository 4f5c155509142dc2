#include "core/log.h"

#include <unistd.h>

#include <atomic>

#include "core/clock.h"
#include "core/json_writer.h"

namespace livehub {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
const char* Name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void LogLine(LogLevel level, std::string_view msg) { LogLine(level, msg, JsonFields()); }

void LogLine(LogLevel level, std::string_view msg, const JsonFields& fields) {
  if (!LogEnabled(level)) return;
  const std::string& fields_json = fields.text();
  std::string line;
  line.reserve(96 + msg.size() + fields_json.size());
  JsonWriter w(&line);
  w.BeginObject().Field("ts", SystemClock::Get()->NowMs()).Field("level", Name(level));
  w.Field("msg", msg);
  line.append(fields_json);
  line.append("}\n");
  ssize_t r = ::write(STDERR_FILENO, line.data(), line.size());
  (void)r;
}

}  // namespace livehub
