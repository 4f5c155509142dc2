#include "process/condition.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace livehub {
namespace {

Status Bad(std::string_view text, const std::string& what) {
  return Status::InvalidArgument("bad_condition", what + " in '" + std::string(text) +
                                                      "' (expected `field op constant`, "
                                                      "e.g. `temp > 30`)");
}

bool IsFieldChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

}  // namespace

Result<Condition> ParseCondition(std::string_view text) {
  Condition c;
  c.text = std::string(text);
  size_t p = 0;
  auto skip = [&] {
    while (p < text.size() && std::isspace(static_cast<unsigned char>(text[p]))) ++p;
  };
  skip();
  const size_t fstart = p;
  while (p < text.size() && IsFieldChar(text[p])) ++p;
  if (p == fstart) {
    return Bad(text, p < text.size()
                         ? "expected a field name, found '" + std::string(1, text[p]) + "'"
                         : "empty condition");
  }
  c.field = std::string(text.substr(fstart, p - fstart));
  auto path = ParseFieldPath(c.field);
  if (!path.ok()) return Bad(text, path.status().message());
  c.path = std::move(*path);
  skip();
  if (p >= text.size()) return Bad(text, "missing operator after '" + c.field + "'");
  auto two = text.substr(p, 2);
  if (two == ">=")
    c.op = CmpOp::kGe, p += 2;
  else if (two == "<=")
    c.op = CmpOp::kLe, p += 2;
  else if (two == "==")
    c.op = CmpOp::kEq, p += 2;
  else if (two == "!=")
    c.op = CmpOp::kNe, p += 2;
  else if (text[p] == '>')
    c.op = CmpOp::kGt, p += 1;
  else if (text[p] == '<')
    c.op = CmpOp::kLt, p += 1;
  else if (text[p] == '=')
    return Bad(text, "'=' is not an operator (use ==)");
  else
    return Bad(text, "unknown operator at '" + std::string(text.substr(p, 8)) + "'");
  skip();
  if (p >= text.size()) return Bad(text, "missing constant after the operator");
  std::string_view rest = text.substr(p);
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back())))
    rest.remove_suffix(1);
  if (rest.front() == '\'' || rest.front() == '"') {
    if (rest.size() < 2 || rest.back() != rest.front()) return Bad(text, "unterminated string");
    c.type = Condition::Type::kString;
    c.str = std::string(rest.substr(1, rest.size() - 2));
    if (c.str.find(rest.front()) != std::string::npos) return Bad(text, "quote inside a string");
  } else if (rest == "true" || rest == "false") {
    c.type = Condition::Type::kBool;
    c.boolean = rest == "true";
  } else {
    std::string num(rest);
    char* end = nullptr;
    double v = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size() || num.empty() || !std::isfinite(v) ||
        !(std::isdigit(static_cast<unsigned char>(num[0])) || num[0] == '-' || num[0] == '+' ||
          num[0] == '.')) {
      return Bad(text, "'" + num + "' is not a number, a quoted string, true or false");
    }
    c.type = Condition::Type::kNumber;
    c.number = v;
  }
  if (c.type != Condition::Type::kNumber && c.op != CmpOp::kEq && c.op != CmpOp::kNe) {
    return Bad(text, "strings and booleans compare only with == or !=");
  }
  return c;
}

bool Compare(CmpOp op, double a, double b) {
  switch (op) {
    case CmpOp::kGt:
      return a > b;
    case CmpOp::kGe:
      return a >= b;
    case CmpOp::kLt:
      return a < b;
    case CmpOp::kLe:
      return a <= b;
    case CmpOp::kEq:
      return a == b;
    case CmpOp::kNe:
      return a != b;
  }
  return false;
}

std::optional<bool> Evaluate(const Condition& c, const RecordReader& r) {
  auto e = r.Get(c.path);
  if (!e) return std::nullopt;
  switch (c.type) {
    case Condition::Type::kNumber: {
      if (e->is_bool()) return std::nullopt;
      auto x = r.Number(c.path);
      if (!x) return std::nullopt;
      return Compare(c.op, *x, c.number);
    }
    case Condition::Type::kString: {
      if (!e->is_string()) return std::nullopt;
      const bool eq = e->get_string().value_unsafe() == c.str;
      return c.op == CmpOp::kEq ? eq : !eq;
    }
    case Condition::Type::kBool: {
      if (!e->is_bool()) return std::nullopt;
      const bool eq = e->get_bool().value_unsafe() == c.boolean;
      return c.op == CmpOp::kEq ? eq : !eq;
    }
  }
  return std::nullopt;
}

}  // namespace livehub
