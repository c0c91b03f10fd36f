// Pooling the records of shard directories (`diffedit run --shard i/n`, or any runs of one
// experiment) into one results directory, from which the summary is recomputed.
#pragma once

#include <filesystem>
#include <vector>

#include "eval/experiment.h"

namespace diffedit::eval {

// Checks that every shard was run with the same resolved config (InputError naming the first that
// was not) and that it is a valid experiment, claims `out` for it, and copies into `out` each record (with its image and mask) that
// `out` lacks. A record present in two places must have the same metrics: overlapping shards of a
// deterministic run agree, and a difference is an InputError naming the shard and the record.
// `out` may be one of the shards. Returns the experiment.
Experiment merge_shards(const std::vector<std::filesystem::path>& shards, const std::filesystem::path& out);

}  // namespace diffedit::eval
