// diffedit-train-toy-sd: the `diffedit train` code path for toy-sd alone, for a CUDA machine that
// has a PyTorch wheel (its libtorch) but not the rest of the project's dependencies (OpenCV,
// HDF5, ...). Same config, overrides, checkpoints and output directory as `diffedit train`. Built
// by a -DDIFFEDIT_TRAINER_ONLY=ON configuration (scripts/cuda-trainer/build.sh).
//
//   diffedit-train-toy-sd CONFIG --out DIR [--device cuda] [--resume] [KEY=VALUE ...]
#include <c10/util/Exception.h>

#include <iostream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/log.h"
#include "training/train_toy_sd.h"

int main(int argc, char** argv) {
  using namespace diffedit;
  std::string file, out, device_name = "cuda";
  std::vector<std::string> overrides;
  bool resume = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--out" || arg == "--device") {
        if (i + 1 >= argc) throw InputError(arg, "needs a value");
        (arg == "--out" ? out : device_name) = argv[++i];
      } else if (arg == "--resume") {
        resume = true;
      } else if (arg.starts_with("--")) {
        throw InputError(arg, "unknown option (CONFIG --out DIR [--device D] [--resume] [KEY=VALUE ...])");
      } else if (file.empty()) {
        file = arg;
      } else {
        overrides.push_back(arg);
      }
    }
    if (file.empty() || out.empty()) throw InputError("usage", "CONFIG --out DIR [--device D] [--resume] [KEY=VALUE ...]");
    const config::Json c = config::resolve(file, overrides, &training::toy_sd_schema());
    const auto s = training::train_toy_sd(c, out, resume, std::filesystem::path(file).parent_path(), parse_device(device_name));
    log::info("trained ", s.steps, " steps; loss ", s.first_loss, " -> ", s.last_loss);
    return 0;
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return e.exit_code();
  } catch (const c10::Error& e) {
    std::cerr << "error: libtorch: " << e.what_without_backtrace() << '\n';
    return kExitFailure;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitFailure;
  }
}
