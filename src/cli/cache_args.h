// The feature-cache options every command that computes features shares: --cache DIR, --no-cache.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "eval/features.h"

namespace diffedit::cli {

struct CacheArgs {
  std::string cache;
  bool no_cache = false;
  // The folder to use: empty with --no-cache, else --cache or eval::default_feature_cache().
  std::filesystem::path dir() const {
    return no_cache ? std::filesystem::path() : cache.empty() ? eval::default_feature_cache() : std::filesystem::path(cache);
  }
};

inline void add_cache_options(CLI::App& sub, CacheArgs& c) {
  sub.add_option("--cache", c.cache,
                 "Feature cache folder (default: $DIFFEDIT_CACHE, $XDG_CACHE_HOME or ~/.cache, /diffedit-bench/features)");
  sub.add_flag("--no-cache", c.no_cache, "Neither read nor write the feature cache");
}

}  // namespace diffedit::cli
