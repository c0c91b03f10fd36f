#include "cli/config_args.h"

#include <iostream>

namespace diffedit::cli {

void add_config_arguments(CLI::App& sub, ConfigArguments& args) {
  sub.add_option("config", args.file, "The JSON config file")->required();
  sub.add_option("overrides", args.overrides, "Overrides KEY=VALUE (value parsed as JSON, else taken as a string)");
  sub.add_flag("--print-config", args.print_config, "Print the resolved config and exit");
}

std::optional<config::Json> resolve_config(const ConfigArguments& args, const config::Schema* schema) {
  config::Json resolved = config::resolve(args.file, args.overrides, schema);
  if (args.print_config) {
    std::cout << resolved.dump(2) << '\n';
    return std::nullopt;
  }
  return resolved;
}

}  // namespace diffedit::cli
