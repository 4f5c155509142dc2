#include "fanout/subscriptions.h"

#include <algorithm>
#include <functional>

namespace livehub {

bool Subscriptions::HasPattern(std::string_view text) const {
  return std::any_of(patterns_.begin(), patterns_.end(),
                     [&](const PatternSub& p) { return p.pattern.text() == text; });
}

size_t Subscriptions::CountWith(const std::vector<Pattern>& fresh) const {
  size_t n = patterns_.size();
  for (size_t i = 0; i < fresh.size(); ++i) {
    const std::string& t = fresh[i].text();
    const bool seen = HasPattern(t) || std::any_of(fresh.begin(), fresh.begin() + i,
                                                   [&](const Pattern& p) { return p.text() == t; });
    if (!seen) ++n;
  }
  return n;
}

bool Subscriptions::AddPattern(const Pattern& pattern, int64_t interval_ns) {
  if (HasPattern(pattern.text())) return false;
  patterns_.push_back(PatternSub{pattern, 0, interval_ns});
  return true;
}

void Subscriptions::SetWatchId(std::string_view text, uint64_t watch_id) {
  for (PatternSub& p : patterns_) {
    if (p.watch_id == 0 && p.pattern.text() == text) p.watch_id = watch_id;
  }
}

int64_t Subscriptions::IntervalFor(std::string_view stream) const {
  for (const PatternSub& p : patterns_) {
    if (p.pattern.Matches(stream)) return p.interval_ns;
  }
  return 0;
}

std::vector<std::string> Subscriptions::PatternTexts() const {
  std::vector<std::string> out;
  out.reserve(patterns_.size());
  for (const PatternSub& p : patterns_) out.push_back(p.pattern.text());
  return out;
}

Subscriptions::StreamSub* Subscriptions::Find(Stream* stream) {
  auto it = subs_.find(stream);
  return it == subs_.end() ? nullptr : &it->second;
}

void Subscriptions::Add(Stream* stream, StreamSub sub) {
  if (auto it = subs_.find(stream); it != subs_.end() && it->second.interval_ns) --coalesced_;
  if (sub.interval_ns) ++coalesced_;
  subs_[stream] = std::move(sub);
}

std::vector<Subscriptions::Detached> Subscriptions::RemoveIf(
    const std::function<bool(Stream*)>& pred) {
  std::vector<Detached> out;
  for (auto it = subs_.begin(); it != subs_.end();) {
    if (!pred(it->first)) {
      ++it;
      continue;
    }
    if (it->second.interval_ns) --coalesced_;
    out.push_back(Detached{it->first, std::move(it->second)});
    it = subs_.erase(it);
  }
  return out;
}

std::vector<Subscriptions::Detached> Subscriptions::RemovePatterns(
    const std::vector<std::string>& texts, std::vector<std::string>* removed,
    std::vector<uint64_t>* unwatch) {
  for (const std::string& t : texts) {
    auto it = std::find_if(patterns_.begin(), patterns_.end(),
                           [&](const PatternSub& p) { return p.pattern.text() == t; });
    if (it == patterns_.end()) continue;
    unwatch->push_back(it->watch_id);
    removed->push_back(t);
    patterns_.erase(it);
  }
  return RemoveIf([this](Stream* s) {
    return std::none_of(patterns_.begin(), patterns_.end(),
                        [&](const PatternSub& p) { return p.pattern.Matches(s->name()); });
  });
}

std::vector<Subscriptions::Detached> Subscriptions::RemoveUnreadable(const Access& access) {
  return RemoveIf([&access](Stream* s) { return !access.CanRead(s->name()); });
}

std::vector<Subscriptions::Detached> Subscriptions::RemoveAll(std::vector<uint64_t>* unwatch) {
  for (const PatternSub& p : patterns_) unwatch->push_back(p.watch_id);
  patterns_.clear();
  return RemoveIf([](Stream*) { return true; });
}

}  // namespace livehub
