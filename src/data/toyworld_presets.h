// Named toy worlds and their JSON form (the `world` key of experiment, training and dataset
// configs):
//   "world": "basic"                                   a preset by name
//   "world": {"preset": "basic", "max_objects": 1}     a preset with some parameters changed
// Parameters are named as in WorldSpec; lists take vocabulary names ("shapes": ["square", "ring"]).
// A changed preset is recorded as "custom" with every parameter spelled out, so a result names
// the world it came from. Presets (datasets/toyworld/README.md gives the measurements behind them):
//   basic  the default of the shipped models: four shapes whose outlines differ by many pixels
//          (square, triangle, cross, ring), eight colours, plain or gradient backgrounds, a large
//          unrotated main object and at most one small distractor
//   full   the world before presets: eight shapes, five backgrounds (stripes, checks and noise
//          among them), 1-3 objects of three sizes, small rotations
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "data/toyworld.h"

namespace diffedit::data::toyworld {

// The world of the shipped toy models: the default wherever a config names none.
inline constexpr const char* kDefaultPreset = "basic";

const std::vector<std::string>& preset_names();  // basic, full
// InputError listing the presets for an unknown name.
WorldSpec preset(const std::string& name);

// A `world` config value (a preset name, or an object with "preset" and changed parameters) as a
// validated WorldSpec; ConfigError naming `where` for an unknown preset, key or vocabulary name.
WorldSpec world_from_json(const config::Json& value, const std::string& where = "world");
// A command-line value: a preset name, or a JSON object as world_from_json takes it.
WorldSpec world_from_text(const std::string& text, const std::string& where);
// Every parameter by name: the inverse of world_from_json (the "preset" key carries the name).
config::Json world_to_json(const WorldSpec& spec);
// The schema entry of a `world` config key, default `default_preset`; the value itself is checked
// by world_from_json.
config::Schema world_schema(const std::string& default_preset);

}  // namespace diffedit::data::toyworld
