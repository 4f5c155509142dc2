#include "http/static_assets.h"

namespace livehub {

const StaticAsset* FindDashboardAsset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const StaticAsset& a : DashboardAssets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    size_t comma = if_none_match.find(',');
    std::string_view item = if_none_match.substr(0, comma);
    if_none_match =
        comma == std::string_view::npos ? std::string_view() : if_none_match.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);  // weak comparison (RFC 9110 13.1.2)
    if (item == "*" || item == etag) return true;
  }
  return false;
}

}  // namespace livehub
