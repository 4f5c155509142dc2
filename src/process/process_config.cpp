#include "process/process_config.h"

#include <functional>
#include <map>
#include <set>

#include "stream/pattern.h"

namespace livehub {
namespace {

using Handler = ConfigWalker::Handler;

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 100) return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  }
  return true;
}

// Common keys of windows and alerts.
struct Common {
  std::string name, input, output, time_field, time_unit = "ms";
  std::vector<std::string> key;
};

void AddCommon(ConfigWalker& w, Common* c, std::map<std::string, Handler>* h) {
  (*h)["name"] = w.Scalar<std::string>(&c->name);
  (*h)["input"] = w.Scalar<std::string>(&c->input);
  (*h)["output"] = w.Scalar<std::string>(&c->output);
  (*h)["key"] = w.StringList(&c->key);
  (*h)["time_field"] = w.Scalar<std::string>(&c->time_field);
  (*h)["time_unit"] = w.Scalar<std::string>(&c->time_unit);
}

// Checks the common keys; false after w.Fail().
bool CheckCommon(ConfigWalker& w, const std::string& p, Common& c, bool needs_input,
                 std::set<std::string>* names, TimeSpec* time) {
  if (!ValidName(c.name)) {
    w.Fail(p + ".name",
           c.name.empty() ? "is required" : "'" + c.name + "' must be 1-100 of [A-Za-z0-9._-]");
    return false;
  }
  if (!names->insert(c.name).second) {
    w.Fail(p + ".name", "'" + c.name + "' is used by another processor");
    return false;
  }
  if (needs_input) {
    if (c.input.empty()) {
      w.Fail(p + ".input", "is required (a stream pattern, e.g. sensors/**)");
      return false;
    }
    if (auto pat = Pattern::Parse(c.input); !pat.ok()) {
      w.Fail(p + ".input", pat.status().message());
      return false;
    }
  }
  if (c.output.empty()) {
    w.Fail(p + ".output", "is required (the derived stream's name)");
    return false;
  }
  if (Status st = ValidateStreamName(c.output); !st.ok()) {
    w.Fail(p + ".output", st.message());
    return false;
  }
  for (size_t i = 0; i < c.key.size(); ++i) {
    if (auto fp = ParseFieldPath(c.key[i]); !fp.ok()) {
      w.Fail(p + ".key[" + std::to_string(i) + "]", fp.status().message());
      return false;
    }
  }
  time->processing_time = c.time_field.empty();
  time->field = c.time_field;
  time->from_schema = c.time_field == TimeSpec::kFromSchema;
  if (!c.time_field.empty() && !time->from_schema) {
    if (auto fp = ParseFieldPath(c.time_field); !fp.ok()) {
      w.Fail(p + ".time_field", fp.status().message());
      return false;
    }
  }
  if (c.time_unit == "ms")
    time->unit = TimeUnit::kMs;
  else if (c.time_unit == "s")
    time->unit = TimeUnit::kS;
  else {
    w.Fail(p + ".time_unit",
           "must be ms or s (strings are read as RFC 3339), got '" + c.time_unit + "'");
    return false;
  }
  return true;
}

void ParseWindow(ConfigWalker& w, const YAML::Node& n, const std::string& p,
                 std::set<std::string>* names, std::vector<WindowSpec>* out) {
  WindowSpec s;
  Common c;
  std::string type;
  int64_t size = -1, slide = -1, gap = -1, ooo = 0, lateness = 0, idle = s.idle_timeout_ms,
          early = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> aggs;
  std::map<std::string, Handler> h = {
      {"type", w.Scalar<std::string>(&type)},
      {"size_s", w.Seconds(&size)},
      {"slide_s", w.Seconds(&slide)},
      {"gap_s", w.Seconds(&gap)},
      {"out_of_orderness_s", w.Seconds(&ooo)},
      {"allowed_lateness_s", w.Seconds(&lateness)},
      {"idle_timeout_s", w.Seconds(&idle)},
      {"early_every_s", w.Seconds(&early)},
      {"max_keys", w.Scalar<size_t>(&s.max_keys, 1)},
      {"sketch_alpha", w.Scalar<double>(&s.sketch_alpha)},
      {"emit_late", w.Scalar<bool>(&s.emit_late)},
      {"aggregates",
       [&](const YAML::Node& an, const std::string& ap) {
         if (!an.IsMap()) {
           return w.Fail(ap,
                         "must map field names to lists of aggregates, e.g. "
                         "{temp: [avg, max, p95]}");
         }
         for (const auto& kv : an) {
           std::string field = kv.first.as<std::string>();
           std::vector<std::string> ops;
           w.StringList (&ops)(kv.second, ap + "." + field);
           aggs.emplace_back(field, ops);
         }
       }},
  };
  AddCommon(w, &c, &h);
  w.Map(n, p, h);
  if (!w.status().ok()) return;
  if (!CheckCommon(w, p, c, true, names, &s.time)) return;
  s.name = c.name, s.input = c.input, s.output = c.output, s.key = c.key;
  if (type == "tumbling" || type.empty()) {
    s.kind = WindowKind::kTumbling;
    if (size <= 0)
      return w.Fail(p + ".size_s", "is required and must be > 0 for a tumbling window");
    if (slide >= 0) return w.Fail(p + ".slide_s", "applies to hopping windows only");
    if (gap >= 0) return w.Fail(p + ".gap_s", "applies to session windows only");
    s.size_ms = s.slide_ms = size;
  } else if (type == "hopping" || type == "sliding") {
    s.kind = WindowKind::kHopping;
    if (size <= 0) return w.Fail(p + ".size_s", "is required and must be > 0 for a hopping window");
    if (slide <= 0)
      return w.Fail(p + ".slide_s", "is required and must be > 0 for a hopping window");
    if (slide > size) return w.Fail(p + ".slide_s", "must not exceed size_s");
    if ((size + slide - 1) / slide > WindowProcessor::kMaxWindowsPerRecord) {
      return w.Fail(p + ".slide_s", "size_s / slide_s must be at most " +
                                        std::to_string(WindowProcessor::kMaxWindowsPerRecord));
    }
    if (gap >= 0) return w.Fail(p + ".gap_s", "applies to session windows only");
    s.size_ms = size;
    s.slide_ms = slide;
  } else if (type == "session") {
    s.kind = WindowKind::kSession;
    if (gap <= 0) return w.Fail(p + ".gap_s", "is required and must be > 0 for a session window");
    if (size >= 0 || slide >= 0) {
      return w.Fail(p + (size >= 0 ? ".size_s" : ".slide_s"), "does not apply to session windows");
    }
    s.gap_ms = gap;
  } else {
    return w.Fail(p + ".type",
                  "must be tumbling, hopping (or sliding) or session, got '" + type + "'");
  }
  s.out_of_orderness_ms = ooo;
  s.allowed_lateness_ms = lateness;
  s.idle_timeout_ms = idle;
  s.early_every_ms = early;
  if (!(s.sketch_alpha > 0 && s.sketch_alpha <= 0.5)) {
    return w.Fail(p + ".sketch_alpha", "must be in (0, 0.5]");
  }
  for (auto& [field, ops] : aggs) {
    const std::string fp = p + ".aggregates." + field;
    if (auto path = ParseFieldPath(field); !path.ok()) return w.Fail(fp, path.status().message());
    if (ops.empty()) return w.Fail(fp, "lists no aggregates");
    FieldAggSpec f{field, {}};
    for (const std::string& op : ops) {
      auto o = ParseAggOp(op);
      if (!o.ok()) return w.Fail(fp, o.status().message());
      f.ops.push_back(*o);
    }
    s.fields.push_back(std::move(f));
  }
  out->push_back(std::move(s));
}

void ParseAlert(ConfigWalker& w, const YAML::Node& n, const std::string& p,
                std::set<std::string>* names, std::vector<AlertSpec>* out) {
  AlertSpec s;
  Common c;
  std::string type, level = "warning", when, clear;
  int64_t for_ms = 0;
  std::map<std::string, Handler> h = {
      {"type", w.Scalar<std::string>(&type)},
      {"level", w.Scalar<std::string>(&level)},
      {"when", w.Scalar<std::string>(&when)},
      {"clear", w.Scalar<std::string>(&clear)},
      {"for_s", w.Seconds(&for_ms)},
      {"field", w.Scalar<std::string>(&s.field)},
      {"window", w.Scalar<size_t>(&s.window, 2)},
      {"alpha", w.Scalar<double>(&s.alpha)},
      {"threshold", w.Scalar<double>(&s.threshold)},
      {"min_samples", w.Scalar<size_t>(&s.min_samples, 1)},
      {"sources", w.StringList(&s.sources)},
      {"max_keys", w.Scalar<size_t>(&s.max_keys, 1)},
      {"recent", w.Scalar<size_t>(&s.recent, 1)},
  };
  AddCommon(w, &c, &h);
  w.Map(n, p, h);
  if (!w.status().ok()) return;
  if (type == "threshold")
    s.kind = AlertKind::kThreshold;
  else if (type == "zscore")
    s.kind = AlertKind::kZScore;
  else if (type == "ewma")
    s.kind = AlertKind::kEwma;
  else if (type == "source_health")
    s.kind = AlertKind::kSourceHealth;
  else {
    return w.Fail(p + ".type",
                  type.empty()
                      ? "is required (threshold, zscore, ewma or source_health)"
                      : "must be threshold, zscore, ewma or source_health, got '" + type + "'");
  }
  if (s.kind == AlertKind::kSourceHealth) {
    if (!c.input.empty())
      return w.Fail(p + ".input", "source_health reads $sys/events; remove input");
    c.input = "$sys/events";
  }
  if (!CheckCommon(w, p, c, true, names, &s.time)) return;
  s.name = c.name, s.input = c.input, s.output = c.output, s.key = c.key;
  if (level == "info")
    s.level = AlertLevel::kInfo;
  else if (level == "warning")
    s.level = AlertLevel::kWarning;
  else if (level == "critical")
    s.level = AlertLevel::kCritical;
  else
    return w.Fail(p + ".level", "must be info, warning or critical, got '" + level + "'");
  s.for_ms = for_ms;
  auto only = [&](bool cond, const char* key, const char* types) {
    if (cond) w.Fail(p + "." + key, std::string("applies to ") + types + " rules only");
    return cond;
  };
  const bool threshold = s.kind == AlertKind::kThreshold;
  const bool anomaly = s.kind == AlertKind::kZScore || s.kind == AlertKind::kEwma;
  if (only(!threshold && !when.empty(), "when", "threshold") ||
      only(!threshold && !clear.empty(), "clear", "threshold") ||
      only(!threshold && for_ms > 0, "for_s", "threshold") ||
      only(!anomaly && !s.field.empty(), "field", "zscore and ewma") ||
      only(s.kind != AlertKind::kSourceHealth && !s.sources.empty(), "sources", "source_health") ||
      only(s.kind == AlertKind::kSourceHealth && !c.key.empty(), "key",
           "threshold, zscore and ewma")) {
    return;
  }
  if (threshold) {
    if (when.empty()) return w.Fail(p + ".when", "is required, e.g. when: \"temp > 30\"");
    auto cw = ParseCondition(when);
    if (!cw.ok()) return w.Fail(p + ".when", cw.status().message());
    s.when = std::move(*cw);
    if (!clear.empty()) {
      auto cc = ParseCondition(clear);
      if (!cc.ok()) return w.Fail(p + ".clear", cc.status().message());
      s.clear = std::move(*cc);
    }
  }
  if (anomaly) {
    if (s.field.empty()) return w.Fail(p + ".field", "is required (the numeric field to watch)");
    if (auto fp = ParseFieldPath(s.field); !fp.ok())
      return w.Fail(p + ".field", fp.status().message());
    if (!(s.threshold > 0)) return w.Fail(p + ".threshold", "must be > 0 (standard deviations)");
    if (s.kind == AlertKind::kEwma && !(s.alpha > 0 && s.alpha <= 1)) {
      return w.Fail(p + ".alpha", "must be in (0, 1]");
    }
  }
  out->push_back(std::move(s));
}

// Every stream a processor writes must not feed it back, directly or through
// other processors: a loop would publish forever.
void CheckLoops(ConfigWalker& w, const std::string& path, const ProcessConfig& c) {
  struct Node {
    std::string where;
    Pattern input;
    std::vector<std::string> outputs;
  };
  std::vector<Node> nodes;
  for (size_t i = 0; i < c.windows.size(); ++i) {
    const WindowSpec& s = c.windows[i];
    nodes.push_back({path + ".windows[" + std::to_string(i) + "]",
                     *Pattern::Parse(s.input),
                     {s.output, s.output + "/late"}});
  }
  for (size_t i = 0; i < c.alerts.size(); ++i) {
    const AlertSpec& s = c.alerts[i];
    nodes.push_back(
        {path + ".alerts[" + std::to_string(i) + "]", *Pattern::Parse(s.input), {s.output}});
  }
  const size_t n = nodes.size();
  std::vector<std::vector<size_t>> next(n);
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      for (const std::string& o : nodes[a].outputs) {
        if (nodes[b].input.Matches(o)) {
          next[a].push_back(b);
          break;
        }
      }
    }
  }
  std::vector<int> color(n, 0);  // 0 new, 1 on the path, 2 done
  std::function<bool(size_t)> dfs = [&](size_t v) {
    color[v] = 1;
    for (size_t u : next[v]) {
      if (color[u] == 1) {
        w.Fail(nodes[v].where + ".output",
               u == v ? "feeds the processor's own input (" + nodes[v].input.text() + "): a loop"
                      : "feeds " + nodes[u].where + ", whose outputs lead back here: a loop");
        return true;
      }
      if (color[u] == 0 && dfs(u)) return true;
    }
    color[v] = 2;
    return false;
  };
  for (size_t v = 0; v < n; ++v) {
    if (color[v] == 0 && dfs(v)) return;
  }
}

}  // namespace

void ParseProcessorsSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                            ProcessConfig* out) {
  std::set<std::string> names;
  auto list = [&](auto parse_one) {
    return [&, parse_one](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      if (!n.IsSequence()) return w.Fail(p, "must be a list");
      for (size_t i = 0; i < n.size() && w.status().ok(); ++i) {
        parse_one(w, n[i], p + "[" + std::to_string(i) + "]", &names);
      }
    };
  };
  w.Map(node, path,
        {{"queue_events", w.Scalar<size_t>(&out->queue_events, 1000)},
         {"windows",
          list([&](ConfigWalker& cw, const YAML::Node& n, const std::string& p,
                   std::set<std::string>* ns) { ParseWindow(cw, n, p, ns, &out->windows); })},
         {"alerts",
          list([&](ConfigWalker& cw, const YAML::Node& n, const std::string& p,
                   std::set<std::string>* ns) { ParseAlert(cw, n, p, ns, &out->alerts); })}});
  if (w.status().ok()) CheckLoops(w, path, *out);
}

}  // namespace livehub
