// Fuzz target: the config parser, the override parser and schema validation. The input is JSON
// text, then optionally a NUL byte and newline-separated overrides ("a.b=value"). The parsed
// config gets the overrides applied and is validated against a schema that uses every kind of
// rule (types, choices, ranges, nested objects, maps, arrays, alternatives, defaults).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/errors.h"
#include "fuzz_check.h"

namespace {

using diffedit::config::Json;
using diffedit::config::Schema;

const Schema& schema() {
  static const Schema s = Schema::object({
      {"name", Schema::string().non_empty().required()},
      {"steps", Schema::integer().range(1, 1000).def(50)},
      {"guidance", Schema::number().range(0, std::nullopt).def(7.5)},
      {"scheduler", Schema::string().choices({"ddim", "ddpm"}).def("ddim")},
      {"seeds", Schema::array(Schema::integer()).non_empty().def(Json::array({0}))},
      {"model", Schema::object({{"path", Schema::string().nullable().def(nullptr)},
                                {"dtype", Schema::string().choices({"float32", "float16"}).def("float32")}})},
      {"methods",
       Schema::map(Schema::object({{"grid", Schema::map(Schema::array(Schema::any()))}, {"parameters", Schema::map(Schema::any())}}))},
      {"threshold", Schema::one_of({Schema::number().range(0, 1), Schema::string().choices({"auto"})})},
      {"flag", Schema::boolean().def(false)},
  });
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace config = diffedit::config;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  std::vector<std::string> overrides;
  if (nul != std::string_view::npos) {
    std::string_view rest = input.substr(nul + 1);
    while (!rest.empty()) {
      const std::size_t eol = rest.find('\n');
      overrides.emplace_back(rest.substr(0, eol));
      rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    }
  }
  try {
    Json doc = config::parse_json(text, "fuzz.json");
    schema().check(doc, "fuzz.json");
    for (const auto& argument : overrides) {
      const config::Override o = config::parse_override(argument);
      FUZZ_CHECK(!o.path.empty());
      config::apply_override(doc, o);
    }
    const Json valid = schema().validate(doc, "fuzz.json");
    // Validation fills defaults and must be idempotent.
    FUZZ_CHECK(schema().validate(valid, "fuzz.json") == valid);
    FUZZ_CHECK(valid.at("steps").get<std::int64_t>() >= 1);
    // What validates must survive a round trip through text.
    FUZZ_CHECK(config::parse_json(valid.dump(), "round-trip") == valid);
  } catch (const diffedit::InputError&) {
  }
  return 0;
}
