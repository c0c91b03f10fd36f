// `diffedit convert IN.safetensors OUT.safetensors --dtype float16`: casts every floating-point
// tensor to another storage dtype (integer and bool tensors are kept), keeping names and metadata.
// Loaders convert to the compute dtype, so a float16-stored checkpoint runs in float32 on the CPU.
#include <ATen/ATen.h>

#include <iostream>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "pipelines/pipeline.h"

namespace diffedit::cli {

Command add_convert(CLI::App& app) {
  struct Args {
    std::string in, out, dtype = "float16";
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("convert", "Cast a safetensors file's floating-point tensors to another dtype");
  sub->add_option("input", a->in, "Input .safetensors")->required();
  sub->add_option("output", a->out, "Output .safetensors (may not be the input)")->required();
  sub->add_option("--dtype", a->dtype, "float32, float16 or bfloat16")->capture_default_str();
  return {sub, [a] {
            const c10::ScalarType dtype = pipelines::parse_dtype(a->dtype);
            if (std::filesystem::exists(a->out) && std::filesystem::equivalent(a->in, a->out))
              throw InputError(a->out, "the output must differ from the input");
            const auto file = safetensors::File::open(a->in);
            safetensors::TensorMap tensors;
            std::int64_t cast = 0;
            for (const auto& info : file.tensors()) {
              at::Tensor t = file.tensor(info.name);
              if (t.is_floating_point() && t.scalar_type() != dtype) {
                t = t.to(dtype);
                ++cast;
              }
              tensors[info.name] = t;
            }
            safetensors::write(a->out, tensors, file.metadata());
            std::cout << "wrote " << a->out << " (" << cast << " of " << tensors.size() << " tensors cast to " << a->dtype << ")\n";
            return 0;
          }};
}

}  // namespace diffedit::cli
