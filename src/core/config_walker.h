// ConfigWalker: walks a YAML mapping, dispatching each key to a handler;
// unknown keys and conversion failures become InvalidArgument("bad_config")
// naming "file: key.path". Shared by the hub's config and the sources'.
// Thread safety: not thread-safe; one walker per parse.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/status.h"

namespace livehub {

// Walks a YAML mapping, dispatching each key to a handler; unknown keys and
// conversion failures become InvalidArgument naming "file: key.path".
class ConfigWalker {
 public:
  explicit ConfigWalker(std::string source) : source_(std::move(source)) {}

  using Handler = std::function<void(const YAML::Node&, const std::string& path)>;

  void Map(const YAML::Node& node, const std::string& path,
           const std::map<std::string, Handler>& handlers) {
    if (!status_.ok()) return;
    if (node.IsNull()) return;
    if (!node.IsMap()) return Fail(path, "must be a mapping");
    for (const auto& kv : node) {
      // A complex key (`? [a, b]: ...`) has no string form: refuse it by name.
      if (!kv.first.IsScalar()) return Fail(path, "has a key that is not a plain name");
      std::string key = kv.first.as<std::string>();
      std::string child = path.empty() ? key : path + "." + key;
      auto it = handlers.find(key);
      if (it == handlers.end()) {
        std::string known;
        for (const auto& [k, h] : handlers) known += (known.empty() ? "" : ", ") + k;
        return Fail(child, "unknown key (known here: " + known + ")");
      }
      it->second(kv.second, child);
      if (!status_.ok()) return;
    }
  }

  template <typename T>
  Handler Scalar(T* out, T min = std::numeric_limits<T>::lowest()) {
    return [this, out, min](const YAML::Node& n, const std::string& path) {
      if (!n.IsScalar()) return Fail(path, "must be a scalar value");
      try {
        T v = n.as<T>();
        if constexpr (std::is_arithmetic_v<T>) {
          if (v < min) return Fail(path, "must be at least " + std::to_string(min));
        }
        *out = v;
      } catch (const YAML::Exception&) {
        Fail(path, "cannot read '" + n.Scalar() + "' as " + TypeName<T>());
      }
    };
  }

  // Seconds (may be fractional) into milliseconds.
  Handler Seconds(int64_t* out_ms) {
    return [this, out_ms](const YAML::Node& n, const std::string& path) {
      double s = 0;
      try {
        s = n.as<double>();
      } catch (const YAML::Exception&) {
        return Fail(path, "cannot read '" + (n.IsScalar() ? n.Scalar() : std::string("?")) +
                              "' as a number of seconds");
      }
      if (std::isnan(s)) return Fail(path, "must be a number of seconds, not NaN");
      if (s < 0) return Fail(path, "must not be negative");
      // A year is far beyond any sensible timeout or age, and keeps the
      // millisecond arithmetic well inside int64.
      constexpr double kMaxSeconds = 366.0 * 24 * 3600 * 100;
      if (!(s <= kMaxSeconds)) return Fail(path, "must be at most 100 years (3162240000 s)");
      *out_ms = static_cast<int64_t>(s * 1000);
    };
  }

  // A scalar or a list of scalars, as strings.
  Handler StringList(std::vector<std::string>* out) {
    return [this, out](const YAML::Node& n, const std::string& path) {
      out->clear();
      if (n.IsScalar()) {
        out->push_back(n.Scalar());
        return;
      }
      if (!n.IsSequence()) return Fail(path, "must be a string or a list of strings");
      for (size_t i = 0; i < n.size(); ++i) {
        if (!n[i].IsScalar()) {
          return Fail(path + "[" + std::to_string(i) + "]", "must be a string");
        }
        out->push_back(n[i].Scalar());
      }
    };
  }

  // A mapping of string keys to string values, in file order.
  Handler StringMap(std::vector<std::pair<std::string, std::string>>* out) {
    return [this, out](const YAML::Node& n, const std::string& path) {
      out->clear();
      if (n.IsNull()) return;
      if (!n.IsMap()) return Fail(path, "must be a mapping of names to strings");
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return Fail(path, "has a key that is not a plain name");
        std::string key = kv.first.as<std::string>();
        if (!kv.second.IsScalar()) return Fail(path + "." + key, "must be a string");
        out->emplace_back(key, kv.second.Scalar());
      }
    };
  }

  void Fail(const std::string& path, const std::string& msg) {
    if (status_.ok()) {
      status_ = Status::InvalidArgument("bad_config", source_ + ": " + path + ": " + msg);
    }
  }
  const Status& status() const { return status_; }

 private:
  template <typename T>
  static std::string TypeName() {
    if constexpr (std::is_same_v<T, bool>)
      return "a boolean";
    else if constexpr (std::is_integral_v<T>)
      return "an integer";
    else if constexpr (std::is_floating_point_v<T>)
      return "a number";
    else
      return "a string";
  }
  std::string source_;
  Status status_;
};

}  // namespace livehub
