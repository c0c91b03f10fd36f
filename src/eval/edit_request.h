// The edit request for one dataset sample: what the runner, toy-eval, tests and benchmarks give a
// method for an item. Here, above both, so that editing does not depend on the datasets.
#pragma once

#include <cstdint>

#include "data/toy_datasets.h"
#include "editing/method.h"

namespace diffedit::eval {

// The sample's image as a batch of one, its texts and class labels, its ground-truth region as
// the oracle mask when it has one, and `seed` for every random draw of the edit.
inline editing::EditRequest request_for(const data::EditSample& sample, std::uint64_t seed) {
  editing::EditRequest r;
  r.image = sample.image.unsqueeze(0);
  r.query = sample.query;
  r.reference = sample.reference;
  r.source = sample.source;
  if (sample.region.defined()) r.oracle_mask = sample.region.unsqueeze(0);
  r.source_label = sample.source_label;
  r.target_label = sample.target_label;
  r.blend_source_words = sample.blend_source_words;
  r.blend_target_words = sample.blend_target_words;
  r.seed = seed;
  return r;
}

}  // namespace diffedit::eval
