// Fuzz target for what an upstream feed controls in a source: the stream a
// record maps to (topic segments, event type, key, record fields through a
// StreamTemplate) and the mock's control body.
// Checked properties, besides "never crashes":
//  - a rendered stream name is always a valid stream name;
//  - a template that parses renders deterministically;
//  - a rejected control leaves the mock's options unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "source/mock_generator.h"
#include "source/template.h"
#include "stream/pattern.h"

using namespace livehub;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // Split the input into template | topic | record at the first two NULs.
  size_t a = in.find('\0');
  size_t b = a == std::string_view::npos ? a : in.find('\0', a + 1);
  std::string_view tmpl_text = in.substr(0, a);
  std::string_view topic = a == std::string_view::npos ? in : in.substr(a + 1, b - a - 1);
  std::string_view record = b == std::string_view::npos ? in : in.substr(b + 1);

  static const char* kTemplates[] = {"t/{1}/{2}", "{id}/{topic}", "f/{field:a.b}",
                                     "e/{event}/{key}", "x/{9}"};
  auto render = [&](const StreamTemplate& t) {
    TemplateVars vars;
    vars.topic = topic;
    vars.event = topic.substr(0, 8);
    vars.key = record.substr(0, 8);
    auto r1 = t.Render("src", vars, record);
    auto r2 = t.Render("src", vars, record);
    if (r1.ok() != r2.ok()) std::abort();
    if (r1.ok()) {
      if (*r1 != *r2) std::abort();
      if (!ValidateStreamName(*r1).ok()) std::abort();
    }
  };
  for (const char* text : kTemplates) render(*StreamTemplate::Parse(text));
  auto parsed = StreamTemplate::Parse(tmpl_text);
  if (parsed.ok()) render(*parsed);

  MockOptions o;
  MockOptions before = o;
  MockActions act;
  if (!ApplyMockControl(in, &o, &act).ok()) {
    if (o.batch_size != before.batch_size || o.interval_ms != before.interval_ms ||
        o.running != before.running || o.drop_pct != before.drop_pct) {
      std::abort();
    }
  }
  return 0;
}
