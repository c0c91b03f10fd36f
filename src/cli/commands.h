// Subcommands of the `diffedit` executable: each registers itself on the CLI11 app and returns
// what to run once the command line is parsed.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace diffedit::cli {

struct Command {
  CLI::App* app;                // the subcommand, as registered
  std::function<int()> action;  // runs it after parsing; returns the exit code
};

Command add_inspect(CLI::App& app);
Command add_config(CLI::App& app);
Command add_txt2img(CLI::App& app);
Command add_edit(CLI::App& app);
Command add_toy_samples(CLI::App& app);
Command add_train(CLI::App& app);
Command add_toy_eval(CLI::App& app);
Command add_convert(CLI::App& app);
Command add_metrics(CLI::App& app);
Command add_run(CLI::App& app);
Command add_merge(CLI::App& app);
Command add_regress(CLI::App& app);
Command add_report(CLI::App& app);
Command add_launch(CLI::App& app);
Command add_piebench(CLI::App& app);

}  // namespace diffedit::cli
