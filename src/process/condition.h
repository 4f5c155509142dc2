// Condition: a threshold rule's `field op constant` ("temp > 30",
// "status == 'down'", "ok != true"), parsed once at config load into a
// small typed form and evaluated per event without any eval.
// Grammar:  condition := path op constant
//           path      := segment ('.' segment)*, segment = [A-Za-z0-9_-]+
//           op        := > | >= | < | <= | == | !=
//           constant  := number | 'string' | "string" | true | false
// Strings and booleans take only == and !=.
// Thread safety: immutable after parsing.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "process/record.h"

namespace livehub {

enum class CmpOp : uint8_t { kGt, kGe, kLt, kLe, kEq, kNe };

struct Condition {
  enum class Type : uint8_t { kNumber, kString, kBool };
  std::string text;  // as written, for messages
  std::string field;
  std::vector<std::string> path;
  CmpOp op = CmpOp::kGt;
  Type type = Type::kNumber;
  double number = 0;
  std::string str;
  bool boolean = false;
};

// InvalidArgument("bad_condition", "<what is wrong> in '<text>'").
Result<Condition> ParseCondition(std::string_view text);

// True/false, or nullopt when the field is missing or of another type than
// the constant (the rule's state then does not change).
std::optional<bool> Evaluate(const Condition& c, const RecordReader& r);
// Compares a number with a numeric condition's constant.
bool Compare(CmpOp op, double a, double b);

}  // namespace livehub
