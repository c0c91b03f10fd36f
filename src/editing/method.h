// One interface for every editing method of the benchmark, chosen by name from a config.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "pipelines/pipeline.h"

namespace diffedit::editing {

class NoiseSource;

struct EditRequest {
  at::Tensor image{};        // [1, 3, H, W] in [0, 1]
  std::string query{};       // the text describing the edited image (Q)
  std::string reference{};   // the text describing the input (R); empty when none
  std::string source{};      // the dataset's own description of the input (source class name or caption), whatever R is
                             // set to: FlexIT's source text
  at::Tensor oracle_mask{};  // optional [1, 1, H, W] pixel mask (diffedit_oracle_mask)
  std::int64_t source_label = -1, target_label = -1;                    // class ids when the dataset has them (retrieve)
  std::vector<std::string> blend_source_words{}, blend_target_words{};  // the dataset's changed words (p2p's local_blend_words "dataset")
  std::uint64_t seed = 0;
};

struct EditResult {
  at::Tensor image{};                     // [1, 3, H, W] in [0, 1]
  at::Tensor mask{};                      // [1, 1, h, w] binary on the latent grid, if the method has one
  at::Tensor mask_map{};                  // [1, 1, h, w] continuous map before thresholding, if any
  std::int64_t denoiser_evaluations = 0;  // per image per UNet evaluation; a guided pair counts 2
  double seconds = 0.0;
  // Stages other settings of the same input can share (editing/shared_edits.h): their keys and
  // evaluations, included in denoiser_evaluations (which is the cost of this setting run alone).
  struct SharedStage {
    std::string key;
    std::int64_t evaluations = 0;
  };
  std::vector<SharedStage> shared{};
  config::Json details{};  // method-specific facts worth recording (FlexIT: its loss terms)
};

class EditMethod {
 public:
  virtual ~EditMethod() = default;
  virtual std::string name() const = 0;
  // The method's parameters after validation, defaults filled (recorded with every result).
  virtual const config::Json& parameters() const = 0;
  virtual EditResult edit(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) = 0;
};

// Names of the registered methods, with one line of description each.
std::vector<std::pair<std::string, std::string>> method_catalogue();
// Whether the method's schema has the parameter `key` (the runner passes an experiment's `steps`
// and `guidance` only to the methods that take them).
bool method_has_parameter(const std::string& name, const std::string& key);
// Builds a method from its parameters (validated against its schema; unknown keys are errors that
// name `source`).
std::unique_ptr<EditMethod> make_method(const std::string& name, const config::Json& parameters, const std::string& source);

}  // namespace diffedit::editing
