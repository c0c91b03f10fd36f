// The config arguments every config-driven subcommand shares: CONFIG [KEY=VALUE ...] and
// --print-config (print the resolved config and stop).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"

namespace diffedit::cli {

struct ConfigArguments {
  std::string file;
  std::vector<std::string> overrides;
  bool print_config = false;
};

void add_config_arguments(CLI::App& sub, ConfigArguments& args);

// Resolves the config against `schema` (may be null). With --print-config it prints the result
// to stdout and returns nullopt: the command then exits 0 without running.
std::optional<config::Json> resolve_config(const ConfigArguments& args, const config::Schema* schema);

}  // namespace diffedit::cli
