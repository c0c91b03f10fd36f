// `diffedit train CONFIG --out DIR [--resume] [KEY=VALUE...]`: trains one of the toy models.
#include <iostream>

#include "cli/commands.h"
#include "cli/config_args.h"
#include "core/errors.h"
#include "core/log.h"
#include "training/train_classifier.h"

namespace diffedit::cli {

Command add_train(CLI::App& app) {
  struct Args {
    ConfigArguments config;
    std::string out;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("train", "Train a toy model from a config (configs/train/*.json)");
  add_config_arguments(*sub, a->config);
  sub->add_option("--out", a->out, "Output directory (checkpoint/ while training; the model at the end)")->required();
  sub->add_flag("--resume", a->resume, "Continue from OUT/checkpoint after an interruption");
  return {sub, [a] {
            const auto config = resolve_config(a->config, &training::classifier_schema());
            if (!config) return 0;  // --print-config
            const auto s = training::train_classifier(*config, a->out, a->resume);
            log::info("trained ", s.steps, " steps; loss ", s.first_loss, " -> ", s.last_loss);
            return 0;
          }};
}

}  // namespace diffedit::cli
