// `diffedit`: the command-line entry point. Every error is caught here and printed as
// `error: <source>: <problem>`; the exit code is 2 for bad input and 1 for anything else.
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/resources.h"
#include "core/version.h"
#include "image/io.h"

namespace {

std::string version_text() {
  return "diffedit " + std::string(diffedit::version()) + " (git " + std::string(diffedit::git_revision()) + ")";
}

int run(int argc, char** argv) {
  using namespace diffedit;
  CLI::App app{"diffedit-bench: text-guided image editing with diffusion models (DiffEdit and baselines)"};
  app.name("diffedit");
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text());
  bool quiet = false;
  std::string level = "info";
  app.add_flag("-q,--quiet", quiet, "Print errors only; no progress bars");
  app.add_option("--log-level", level, "Log level: error, warn, info, debug")->check(CLI::IsMember({"error", "warn", "info", "debug"}));
  int threads = 0;
  app.add_option("--threads", threads,
                 "CPU threads for libtorch's operators (default: OMP_NUM_THREADS, else every CPU this process may use). "
                 "Results do not depend on it "
                 "beyond float rounding (README: Determinism)")
      ->check(CLI::Range(1, 4096));
  double memory_budget = 0;
  app.add_option("--memory-budget", memory_budget,
                 "GiB this process may allocate; work that needs more fails with a clear error instead of "
                 "being killed by the OS (records already written are kept)");
  std::int64_t max_image_pixels = 0;
  app.add_option("--max-image-pixels", max_image_pixels, "Refuse input images with more pixels (default 2^28)");

  const std::vector<cli::Command> commands = {
      cli::add_inspect(app), cli::add_config(app),   cli::add_txt2img(app), cli::add_edit(app),    cli::add_toy_samples(app),
      cli::add_train(app),   cli::add_toy_eval(app), cli::add_convert(app), cli::add_metrics(app), cli::add_run(app),
      cli::add_merge(app),   cli::add_regress(app),  cli::add_report(app),  cli::add_launch(app),  cli::add_piebench(app)};

  // CLI11 reports an unknown command as "A subcommand is required"; name it instead.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--log-level" || arg == "--threads" || arg == "--memory-budget" || arg == "--max-image-pixels") {
      ++i;
      continue;
    }
    if (arg.starts_with("-")) continue;
    std::vector<std::string> names;
    for (const auto& command : commands) names.push_back(command.app->get_name());
    if (std::find(names.begin(), names.end(), arg) == names.end()) {
      const auto near = config::near_keys(arg, names);
      std::string all;
      for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
      throw InputError(
          "", "unknown command '" + arg + "'" + (near.empty() ? "" : " (did you mean '" + near.front() + "'?)") + "; commands: " + all);
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "error: " << e.what() << "\n(run 'diffedit --help' for usage)\n";
    return kExitBadInput;
  }
  log::set_level(*log::parse_level(level));
  log::set_quiet(quiet);
  resources::choose_threads(threads);
  if (memory_budget != 0) resources::set_memory_budget(memory_budget);
  if (max_image_pixels != 0) image::set_default_max_pixels(max_image_pixels);
  for (const auto& command : commands)
    if (command.app->parsed()) return command.action();
  return kExitBadInput;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const diffedit::Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return e.exit_code();
  } catch (const std::exception& e) {
    if (diffedit::resources::is_allocation_failure(e))
      std::cerr << "error: " << diffedit::resources::allocation_failure_message(e) << '\n';
    else if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e))
      std::cerr << "error: libtorch: " << torch_error->what_without_backtrace() << '\n';
    else
      std::cerr << "error: internal: " << e.what() << '\n';
    return diffedit::kExitFailure;
  } catch (...) {
    std::cerr << "error: internal: unknown exception\n";
    return diffedit::kExitFailure;
  }
}
