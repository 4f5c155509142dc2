// Structured logging: one JSON object per line on stderr.
// Thread safety: thread-safe (a line is written with one write call).
#pragma once

#include <string>
#include <string_view>

#include "core/json_writer.h"

namespace livehub {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// Writes {"ts":..,"level":..,"msg":..<fields>} (fields: JsonFields, in
// core/json_writer.h).
void LogLine(LogLevel level, std::string_view msg, const JsonFields& fields);
void LogLine(LogLevel level, std::string_view msg);

}  // namespace livehub
