// `diffedit config FILE [KEY=VALUE ...]`: resolves a config's defaults and overrides and prints
// the result, so what an experiment will see can be checked before it runs.
#include "cli/commands.h"
#include "cli/config_args.h"

namespace diffedit::cli {

Command add_config(CLI::App& app) {
  auto args = std::make_shared<ConfigArguments>();
  CLI::App* sub = app.add_subcommand("config", "Print a config file with its defaults and overrides resolved");
  add_config_arguments(*sub, *args);
  return {sub, [args] {
            ConfigArguments print = *args;
            print.print_config = true;
            resolve_config(print, nullptr);
            return 0;
          }};
}

}  // namespace diffedit::cli
