// Structured logging: one JSON object per line on stderr.
// Thread safety: thread-safe (a line is written with one write call).
#pragma once

#include <string>
#include <string_view>

namespace livehub {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// Writes {"ts":..,"level":..,"msg":..<fields_json>} where fields_json is either
// empty or a sequence of already-serialised members starting with ','.
void LogLine(LogLevel level, std::string_view msg, std::string_view fields_json = {});

}  // namespace livehub
