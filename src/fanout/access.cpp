#include "fanout/access.h"

#include <functional>

namespace livehub {
namespace {

std::vector<std::string_view> Segments(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    s.remove_prefix(slash + 1);
  }
}

// Could one segment text match both glob segments?
bool SegmentsMeet(std::string_view a, std::string_view b) {
  const bool a_glob = a.find('*') != std::string_view::npos;
  const bool b_glob = b.find('*') != std::string_view::npos;
  if (!a_glob) return GlobSegmentMatches(b, a);
  if (!b_glob) return GlobSegmentMatches(a, b);
  // Two globs: their literal prefixes and suffixes must agree.
  std::string_view ap = a.substr(0, a.find('*')), bp = b.substr(0, b.find('*'));
  std::string_view as = a.substr(a.rfind('*') + 1), bs = b.substr(b.rfind('*') + 1);
  size_t np = std::min(ap.size(), bp.size()), ns = std::min(as.size(), bs.size());
  return ap.substr(0, np) == bp.substr(0, np) &&
         as.substr(as.size() - ns) == bs.substr(bs.size() - ns);
}

}  // namespace

bool PatternsMayIntersect(std::string_view a, std::string_view b) {
  if (a.starts_with(kSysPrefix) != b.starts_with(kSysPrefix)) return false;
  const auto sa = Segments(a), sb = Segments(b);
  const size_t n = sa.size(), m = sb.size();
  std::vector<int8_t> memo((n + 1) * (m + 1), -1);
  std::function<bool(size_t, size_t)> meet = [&](size_t i, size_t j) -> bool {
    int8_t& slot = memo[i * (m + 1) + j];
    if (slot >= 0) return slot;
    bool r = false;
    if (i == n && j == m) {
      r = true;
    } else if (i < n && sa[i] == "**") {
      r = meet(i + 1, j) || (j < m && meet(i, j + 1));
    } else if (j < m && sb[j] == "**") {
      r = meet(i, j + 1) || (i < n && meet(i + 1, j));
    } else if (i < n && j < m) {
      r = SegmentsMeet(sa[i], sb[j]) && meet(i + 1, j + 1);
    }
    slot = r ? 1 : 0;
    return r;
  };
  return meet(0, 0);
}

Result<std::shared_ptr<const Access>> Access::Compile(Principal principal) {
  auto a = std::make_shared<Access>();
  auto compile = [](const std::vector<std::string>& texts, const char* claim,
                    std::vector<Pattern>* out) -> Status {
    for (size_t i = 0; i < texts.size(); ++i) {
      auto p = Pattern::Parse(texts[i]);
      if (!p.ok()) {
        return AuthFailure("invalid_token", std::string("grant \"") + claim + "\"[" +
                                                std::to_string(i) + "]: " + p.status().message());
      }
      out->push_back(std::move(*p));
    }
    return Status::Ok();
  };
  if (Status st = compile(principal.subscribe, "subscribe", &a->read_); !st.ok()) return st;
  if (Status st = compile(principal.publish, "publish", &a->write_); !st.ok()) return st;
  a->principal_ = std::move(principal);
  return std::shared_ptr<const Access>(std::move(a));
}

std::shared_ptr<const Access> Access::Everything() {
  static const std::shared_ptr<const Access> kEverything = [] {
    Principal p;
    p.everything = true;
    return *Compile(std::move(p));
  }();
  return kEverything;
}

bool Access::CanRead(std::string_view stream) const {
  if (principal_.everything) return true;
  if (stream.starts_with(kSysPrefix) && principal_.HasScope(kAdminScope)) return true;
  for (const Pattern& p : read_) {
    if (p.Matches(stream)) return true;
  }
  return false;
}

bool Access::CanWrite(std::string_view stream) const {
  if (principal_.everything) return true;
  for (const Pattern& p : write_) {
    if (p.Matches(stream)) return true;
  }
  return false;
}

bool Access::MayReadSome(const Pattern& pattern) const {
  if (principal_.everything) return true;
  if (pattern.exact()) return CanRead(pattern.text());
  if (pattern.text().starts_with(kSysPrefix) && principal_.HasScope(kAdminScope)) return true;
  for (const Pattern& p : read_) {
    if (PatternsMayIntersect(p.text(), pattern.text())) return true;
  }
  return false;
}

Status Access::Refuse(const std::string& message) const {
  if (principal_.anonymous()) {
    return AuthFailure("unauthorized", message +
                                           " (no credentials were presented: send a token or "
                                           "API key)");
  }
  return Status::PermissionDenied(message);
}

void CountAuthRefusal(MetricsRegistry* metrics, std::string_view reason) {
  metrics
      ->GetCounter("auth_refusals_total",
                   "Requests, connections and ops refused by authentication, authorization or "
                   "the origin check, by reason.",
                   "reason=\"" + std::string(reason) + "\"")
      ->Add();
}

}  // namespace livehub
