// The dashboard's files (web/), built by esbuild and embedded into the binary
// at build time: web/scripts/embed.mjs generates the table DashboardAssets()
// returns (build/web/dashboard_assets.cpp), so the hub serves "/" offline,
// with no files on disk and no CDN.
// Thread safety: immutable static data; safe from any thread.
#pragma once

#include <span>
#include <string_view>

namespace livehub {

struct StaticAsset {
  std::string_view path;  // URL path: "/index.html", "/assets/main-XXXX.js"
  std::string_view content_type;
  std::string_view cache_control;  // "no-cache" (index.html) or immutable (hashed names)
  std::string_view etag;           // quoted strong ETag: a hash of the bytes
  std::string_view body;
};

// Every embedded file (defined in the generated source).
std::span<const StaticAsset> DashboardAssets();

// The file served at `path` ("/" is "/index.html"), or null.
const StaticAsset* FindDashboardAsset(std::string_view path);

// True when an If-None-Match header value names `etag` (a list, or "*").
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace livehub
