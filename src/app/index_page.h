// The page served at "/" until the dashboard lands: lists every stream with
// its watermark and freshness, refreshed every second, and tails one stream
// over WebSocket. Self-contained (no CDN).
#pragma once

#include <string>

namespace livehub {
const std::string& IndexPage();
}
