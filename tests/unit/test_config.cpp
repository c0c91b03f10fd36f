// Config files: includes, merge rules, overrides, schema validation and error attribution.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/errors.h"
#include "test_support.h"

using namespace diffedit::config;
using diffedit::ConfigError;
using diffedit::testing::ScratchDir;
using diffedit::testing::write_bytes;

namespace {

// The kind of schema an experiment config will have.
Schema experiment_schema() {
  return Schema::object({
      {"model", Schema::string().required()},
      {"steps", Schema::integer().def(50).range(1, 1000)},
      {"guidance", Schema::number().def(7.5).range(0, std::nullopt)},
      {"device", Schema::string().def("cpu").choices({"cpu", "cuda"})},
      {"seeds", Schema::array(Schema::integer()).def(Json::array({0})).non_empty()},
      {"method", Schema::object({
                     {"name", Schema::string().def("diffedit")},
                     {"threshold", Schema::one_of({Schema::number(), Schema::array(Schema::number())}).def(0.5)},
                     {"strength", Schema::number().def(0.5).range(0, 1)},
                 })},
      {"metrics", Schema::map(Schema::object({{"enabled", Schema::boolean().def(true)}}))},
      {"notes", Schema::string().nullable().def(nullptr)},
  });
}

std::string config_error(const std::function<void()>& f, std::string* source = nullptr) {
  try {
    f();
  } catch (const ConfigError& e) {
    if (source) *source = e.source();
    return e.problem();
  }
  ADD_FAILURE() << "no ConfigError";
  return "";
}

}  // namespace

TEST(Config, ParseErrorsNameLineAndColumn) {
  std::string source;
  const auto problem = config_error([] { parse_json("{\n  \"a\": 1,\n  \"b\" 2\n}", "cfg.json"); }, &source);
  EXPECT_EQ(source, "cfg.json");
  EXPECT_NE(problem.find("invalid JSON at line 3, column 7: syntax error"), std::string::npos) << problem;
}

TEST(Config, DuplicateKeysAreRejected) {
  EXPECT_EQ(config_error([] { parse_json(R"({"a": {"x": 1, "x": 2}})", "c.json"); }), "duplicate key 'x'");
  EXPECT_NO_THROW(parse_json(R"({"a": {"x": 1}, "b": {"x": 2}})", "c.json")) << "same key in sibling objects is fine";
}

TEST(Config, DefaultsResolveRelativeToIncludingFileAndMergeDeeply) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "base");
  write_bytes(dir / "base" / "root.json", R"({"model": "m", "method": {"name": "sdedit", "strength": 0.3}, "seeds": [1, 2]})");
  write_bytes(dir / "base" / "mid.json", R"({"defaults": "root.json", "method": {"strength": 0.6}, "steps": 20})");
  write_bytes(dir / "exp.json", R"({"defaults": ["base/mid.json"], "seeds": [7], "method": {"name": "diffedit"}})");
  const Json cfg = load_with_defaults(dir / "exp.json");
  EXPECT_EQ(cfg["model"], "m");
  EXPECT_EQ(cfg["steps"], 20);
  EXPECT_EQ(cfg["method"]["name"], "diffedit");  // the including file wins
  EXPECT_EQ(cfg["method"]["strength"], 0.6);     // objects merge key by key
  EXPECT_EQ(cfg["seeds"], Json::array({7}));     // arrays replace
  EXPECT_FALSE(cfg.contains("defaults"));
}

TEST(Config, DefaultsCycleAndMissingInclude) {
  ScratchDir dir;
  write_bytes(dir / "a.json", R"({"defaults": "b.json"})");
  write_bytes(dir / "b.json", R"({"defaults": "a.json"})");
  const auto problem = config_error([&] { load_with_defaults(dir / "a.json"); });
  EXPECT_EQ(problem.rfind("defaults form a cycle: ", 0), 0u) << problem;
  EXPECT_NE(problem.find("a.json -> "), std::string::npos);

  write_bytes(dir / "c.json", R"({"defaults": "nope.json"})");
  std::string source;
  const auto missing = config_error([&] { load_with_defaults(dir / "c.json"); }, &source);
  EXPECT_EQ(source, (dir / "c.json").string());
  EXPECT_EQ(missing, "cannot include 'nope.json': " + (dir / "nope.json").string() + ": no such file");

  write_bytes(dir / "d.json", R"({"defaults": 3})");
  EXPECT_EQ(config_error([&] { load_with_defaults(dir / "d.json"); }), "'defaults' must be a file name or a list of file names");
  write_bytes(dir / "e.json", R"([1, 2])");
  EXPECT_EQ(config_error([&] { load_with_defaults(dir / "e.json"); }), "a config file must hold a JSON object, not array");
}

TEST(Config, OverridesParseJsonElseString) {
  Json cfg = {{"method", {{"name", "x"}}}, {"seeds", {1, 2, 3}}};
  apply_override(cfg, parse_override("method.threshold=0.25"));
  apply_override(cfg, parse_override("method.name=sdedit"));
  apply_override(cfg, parse_override("steps=20"));
  apply_override(cfg, parse_override("flag=true"));
  apply_override(cfg, parse_override("grid=[0.25, 0.5]"));
  apply_override(cfg, parse_override("text=a red circle"));
  apply_override(cfg, parse_override("empty="));
  apply_override(cfg, parse_override("seeds.1=9"));
  apply_override(cfg, parse_override("new.deep.key=\"quoted\""));
  EXPECT_EQ(cfg["method"]["threshold"], 0.25);
  EXPECT_EQ(cfg["method"]["name"], "sdedit");
  EXPECT_EQ(cfg["steps"], 20);
  EXPECT_EQ(cfg["flag"], true);
  EXPECT_EQ(cfg["grid"], Json::array({0.25, 0.5}));
  EXPECT_EQ(cfg["text"], "a red circle");
  EXPECT_EQ(cfg["empty"], "");
  EXPECT_EQ(cfg["seeds"], Json::array({1, 9, 3}));
  EXPECT_EQ(cfg["new"]["deep"]["key"], "quoted");
}

TEST(Config, OverrideErrors) {
  std::string source;
  EXPECT_EQ(config_error([] { parse_override("steps"); }, &source), "expected KEY=VALUE");
  EXPECT_EQ(source, "override 'steps'");
  EXPECT_EQ(config_error([] { parse_override("a..b=1"); }), "empty component in key 'a..b'");
  EXPECT_EQ(config_error([] { parse_override("=1"); }), "empty component in key ''");
  Json cfg = {{"steps", 5}, {"seeds", {1}}};
  EXPECT_EQ(config_error([&] { apply_override(cfg, parse_override("steps.x=1")); }), "cannot set a key inside a integer");
  EXPECT_EQ(config_error([&] { apply_override(cfg, parse_override("seeds.4=1")); }), "index 4 is out of range (1 elements)");
}

// Found by fuzz/fuzz_config: a value that is not UTF-8 became a string that nlohmann cannot
// serialise, and numbers beyond double threw nlohmann's out_of_range; both escaped as foreign
// exceptions instead of ConfigErrors naming the file or override.
TEST(Config, OverridesMustBeUtf8AndNumbersFitADouble) {
  std::string source;
  EXPECT_EQ(config_error(
                [] {
                  parse_override(
                      "model.dtype=\xa8"
                      "float16");
                },
                &source),
            "the argument is not valid UTF-8");
  EXPECT_EQ(source, "override");
  EXPECT_EQ(config_error([] { parse_override("guidance=1e400"); }, &source), "a number is too large for a double");
  EXPECT_EQ(source, "override 'guidance=1e400'");
  EXPECT_EQ(config_error([] { parse_override("grid=[0.5, -1e999]"); }), "a number is too large for a double");
  EXPECT_EQ(parse_override("text=café").value, "café");
}

TEST(Config, NumbersBeyondDoubleAreRejected) {
  std::string source;
  EXPECT_EQ(config_error([] { parse_json(R"({"a": {"guidance": 1e400}})", "c.json"); }, &source),
            "invalid JSON: a number is too large for a double");
  EXPECT_EQ(source, "c.json");
  EXPECT_NO_THROW(parse_json(R"({"a": 1.7e308, "b": -1e-400})", "c.json"));
}

TEST(Config, SchemaFillsDefaultsAndKeepsGivenValues) {
  const Json out = experiment_schema().validate({{"model", "models/toy-sd"}, {"method", {{"strength", 0.8}}}}, "c.json");
  EXPECT_EQ(out["model"], "models/toy-sd");
  EXPECT_EQ(out["steps"], 50);
  EXPECT_EQ(out["guidance"], 7.5);
  EXPECT_EQ(out["device"], "cpu");
  EXPECT_EQ(out["seeds"], Json::array({0}));
  EXPECT_EQ(out["method"]["name"], "diffedit");
  EXPECT_EQ(out["method"]["strength"], 0.8);
  EXPECT_EQ(out["method"]["threshold"], 0.5);
  EXPECT_TRUE(out["notes"].is_null());
  EXPECT_FALSE(out.contains("metrics")) << "maps have no implicit default";
}

TEST(Config, SchemaUnknownKeySuggestsNearKeys) {
  const Schema s = experiment_schema();
  EXPECT_EQ(config_error([&] {
              s.validate({{"model", "m"}, {"method", {{"treshold", 0.5}}}}, "c.json");
            }),
            "unknown key 'method.treshold' (did you mean 'threshold'?); valid keys in 'method': name, threshold, strength");
  EXPECT_EQ(config_error([&] {
              s.validate({{"model", "m"}, {"stpes", 3}}, "c.json");
            }),
            "unknown key 'stpes' (did you mean 'steps'?); valid keys: model, steps, guidance, device, seeds, method, "
            "metrics, notes");
  EXPECT_EQ(config_error([&] {
              s.validate({{"model", "m"}, {"zzzzzz", 3}}, "c.json");
            }),
            "unknown key 'zzzzzz'; valid keys: model, steps, guidance, device, seeds, method, metrics, notes");
}

TEST(Config, SchemaTypeAndValueErrors) {
  const Schema s = experiment_schema();
  auto err = [&](const Json& j) { return config_error([&] { s.validate(j, "c.json"); }); };
  EXPECT_EQ(err({{"steps", 3}}), "missing required key 'model'");
  EXPECT_EQ(err({{"model", "m"}, {"steps", "ten"}}), "key 'steps': expected integer, got string \"ten\"");
  EXPECT_EQ(err({{"model", "m"}, {"steps", 2.5}}), "key 'steps': expected integer, got number 2.5");
  EXPECT_EQ(err({{"model", "m"}, {"steps", 0}}), "key 'steps': 0 is outside the allowed range [1.000000, 1000.000000]");
  EXPECT_EQ(err({{"model", "m"}, {"device", "cdua"}}), "key 'device': \"cdua\" is not one of cpu, cuda (did you mean 'cuda'?)");
  EXPECT_EQ(err({{"model", "m"}, {"seeds", Json::array()}}), "key 'seeds': must not be empty");
  EXPECT_EQ(err({{"model", "m"}, {"seeds", {1, "x"}}}), "key 'seeds[1]': expected integer, got string \"x\"");
  EXPECT_EQ(err({{"model", "m"}, {"method", {{"threshold", "high"}}}}),
            "key 'method.threshold': expected number or array of number, got string \"high\"");
  EXPECT_EQ(err({{"model", "m"}, {"metrics", {{"fid", {{"enabeld", true}}}}}}),
            "unknown key 'metrics.fid.enabeld' (did you mean 'enabled'?); valid keys in 'metrics.fid': enabled");
  EXPECT_EQ(err(Json::array()), "the config: expected object, got array []");
  // Accepted variants
  EXPECT_EQ(s.validate({{"model", "m"}, {"steps", 20.0}}, "c")["steps"], 20);
  EXPECT_EQ(s.validate({{"model", "m"}, {"method", {{"threshold", {0.25, 0.75}}}}}, "c")["method"]["threshold"], Json::array({0.25, 0.75}));
}

TEST(Config, ResolveNamesTheFileOrOverrideThatIntroducedTheProblem) {
  ScratchDir dir;
  write_bytes(dir / "base.json", R"({"model": "m", "stesp": 3})");
  write_bytes(dir / "exp.json", R"({"defaults": "base.json"})");
  const Schema s = experiment_schema();
  std::string source;
  EXPECT_EQ(config_error([&] { resolve(dir / "exp.json", {}, &s); }, &source),
            "unknown key 'stesp' (did you mean 'steps'?); valid keys: model, steps, guidance, device, seeds, method, "
            "metrics, notes");
  EXPECT_EQ(source, (dir / "base.json").string());

  write_bytes(dir / "ok.json", R"({"model": "m"})");
  EXPECT_EQ(config_error(
                [&] {
                  resolve(dir / "ok.json", {"steps=2", "method.strenght=1"}, &s);
                },
                &source),
            "unknown key 'method.strenght' (did you mean 'strength'?); valid keys in 'method': name, threshold, strength");
  EXPECT_EQ(source, "override 'method.strenght=1'");

  write_bytes(dir / "partial.json", R"({"steps": 3})");
  EXPECT_EQ(config_error([&] { resolve(dir / "partial.json", {}, &s); }, &source), "missing required key 'model'");
  EXPECT_EQ(source, (dir / "partial.json").string());

  const Json out = resolve(dir / "ok.json", {"steps=12", "method.threshold=[0.25,0.5]"}, &s);
  EXPECT_EQ(out["steps"], 12);
  EXPECT_EQ(out["method"]["threshold"], Json::array({0.25, 0.5}));
}

TEST(Config, EditDistanceAndNearKeys) {
  EXPECT_EQ(edit_distance("threshold", "treshold"), 1u);
  EXPECT_EQ(edit_distance("steps", "stpes"), 1u) << "a transposition is one edit";
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(near_keys("strenght", {"strength", "steps", "seed"}), (std::vector<std::string>{"strength"}));
  EXPECT_TRUE(near_keys("qqqqqqqq", {"strength", "steps"}).empty());
}

TEST(Config, FindPath) {
  const Json cfg = {{"a", {{"b", {{"c", 3}}}}}};
  ASSERT_NE(find_path(cfg, "a.b.c"), nullptr);
  EXPECT_EQ(*find_path(cfg, "a.b.c"), 3);
  EXPECT_EQ(find_path(cfg, "a.x"), nullptr);
  EXPECT_EQ(find_path(cfg, "a.b.c.d"), nullptr);
}
