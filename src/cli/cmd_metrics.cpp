// `diffedit metrics fid --stats A.h5 --stats B.h5`: the Fréchet distance of two statistics files;
// the number is the last line on stdout. Statistics from different feature networks (or different
// weights) are refused: their distance means nothing.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/log.h"
#include "metrics/frechet.h"
#include "metrics/stats_file.h"

namespace diffedit::cli {

Command add_metrics(CLI::App& app) {
  struct Args {
    std::vector<std::string> stats;
    std::string offset = "never";
    double eps = 1e-6;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("metrics", "Compute metrics from files (fid, ...)");
  sub->require_subcommand(1);
  CLI::App* fid = sub->add_subcommand("fid", "Fréchet distance of two HDF5 statistics files (mu, sigma)");
  fid->add_option("--stats", a->stats, "Two statistics files")->required()->expected(2);
  fid->add_option("--offset", a->offset, "eps I inside the root: never (exact), always (pytorch-fid's retry branch)")
      ->check(CLI::IsMember({"never", "always"}))
      ->capture_default_str();
  fid->add_option("--eps", a->eps, "The offset")->capture_default_str();
  return {sub, [a, fid] {
            if (!fid->parsed()) return 0;
            const auto s1 = metrics::read_stats(a->stats[0]);
            const auto s2 = metrics::read_stats(a->stats[1]);
            if (!s1.feature_net.empty() && !s2.feature_net.empty() && s1.feature_net != s2.feature_net)
              throw InputError(a->stats[1], "features of '" + s2.feature_net + "' cannot be compared with '" + s1.feature_net + "' (" + a->stats[0] + ")");
            if (!s1.weights_hash.empty() && !s2.weights_hash.empty() && s1.weights_hash != s2.weights_hash)
              throw InputError(a->stats[1], "the feature network's weights differ from those of " + a->stats[0]);
            metrics::FrechetOptions o;
            o.eps = a->eps;
            o.offset = a->offset == "always" ? metrics::EpsOffset::always : metrics::EpsOffset::never;
            const auto r = metrics::frechet_distance(s1.stats, s2.stats, o);
            log::info("d = ", s1.stats.mu.size(0), ", n = ", s1.stats.n, " / ", s2.stats.n, ", mean term ", r.mean_term,
                      r.offset_applied ? ", eps offset applied" : "");
            if (r.repeated_zero_eigenvalue && !r.offset_applied)
              log::warn("the covariance product is singular (repeated zero eigenvalue): pytorch-fid may take its eps-offset "
                        "branch here; --offset always reproduces that branch");
            char text[64];
            std::snprintf(text, sizeof text, "%.17g", r.distance);
            std::cout << text << '\n';
            return 0;
          }};
}

}  // namespace diffedit::cli
