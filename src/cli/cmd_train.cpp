// `diffedit train CONFIG --out DIR [--resume] [KEY=VALUE...]`: trains one of the toy models; the
// config's `model` key picks which (toy-classifier, toy-sd, toy-clip).
#include <iostream>

#include "cli/commands.h"
#include "cli/config_args.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/log.h"
#include "training/train_classifier.h"
#include "training/train_toy_clip.h"
#include "training/train_toy_sd.h"

namespace diffedit::cli {

Command add_train(CLI::App& app) {
  struct Args {
    ConfigArguments config;
    std::string out;
    bool resume = false;
    std::string device = "cpu";
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("train", "Train a toy model from a config (configs/train/*.json)");
  add_config_arguments(*sub, a->config);
  sub->add_option("--out", a->out, "Output directory (checkpoint/ while training; the model at the end)")->required();
  sub->add_flag("--resume", a->resume, "Continue from OUT/checkpoint after an interruption");
  sub->add_option("--device", a->device,
                  "cpu or cuda[:N]: where the networks train (data and noise are drawn on the CPU either way, so the batches "
                  "are the same; the arithmetic is not bit-identical across devices)")
      ->capture_default_str();
  return {sub, [a] {
            // The model kind decides the schema; read it from the unvalidated config first.
            const config::Json raw = config::resolve(a->config.file, a->config.overrides, nullptr);
            const std::string model = raw.contains("model") && raw["model"].is_string() ? raw["model"].get<std::string>() : "";
            const config::Schema* schema = nullptr;
            if (model == "toy-classifier")
              schema = &training::classifier_schema();
            else if (model == "toy-sd")
              schema = &training::toy_sd_schema();
            else if (model == "toy-clip")
              schema = &training::toy_clip_schema();
            else
              throw ConfigError(a->config.file, "'model' must be one of toy-classifier, toy-sd, toy-clip (got '" + model + "')");
            const auto config = resolve_config(a->config, schema);
            if (!config) return 0;  // --print-config
            const auto base = std::filesystem::path(a->config.file).parent_path();
            const c10::Device device = parse_device(a->device);
            const auto s = model == "toy-sd"     ? training::train_toy_sd(*config, a->out, a->resume, base, device)
                           : model == "toy-clip" ? training::train_toy_clip(*config, a->out, a->resume, base, device)
                                                 : training::train_classifier(*config, a->out, a->resume, device);
            log::info("trained ", s.steps, " steps; loss ", s.first_loss, " -> ", s.last_loss);
            return 0;
          }};
}

}  // namespace diffedit::cli
