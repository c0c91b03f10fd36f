// `diffedit metrics fid --stats A.h5 --stats B.h5`: the Fréchet distance of two statistics files;
// the number is the last line on stdout. Statistics from different feature networks (or different
// weights) are refused: their distance means nothing.
// `diffedit metrics stats --images DIR|LIST --net NAME --out S.h5`: features of an image set by a
// named feature network (through the feature cache) -> mean and covariance in HDF5.
// `diffedit metrics lpips A.png B.png --net alex --weights W.safetensors`: LPIPS v0.1 of two images
// of the same size (read as RGB in [0, 1], mapped to [-1, 1]); the distance is the last line.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/cache_args.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "core/log.h"
#include "eval/features.h"
#include "image/io.h"
#include "metrics/clip_score.h"
#include "metrics/frechet.h"
#include "metrics/lpips.h"
#include "metrics/stats_file.h"
#include "pipelines/clip_model.h"

namespace diffedit::cli {

Command add_metrics(CLI::App& app) {
  struct Args {
    std::vector<std::string> stats;
    std::string offset = "never";
    double eps = 1e-6;
    std::vector<std::string> images;
    std::string net = "alex", weights;
    std::string model, image, text;
    std::string stats_images, stats_net, stats_weights, stats_out;
    bool by_class = false;
    std::int64_t resize_crop = 0;
    CacheArgs cache;
    std::int64_t batch = 32;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("metrics", "Compute metrics from files (fid, ...)");
  sub->require_subcommand(1);
  CLI::App* stats = sub->add_subcommand("stats", "Feature statistics (mu, sigma) of an image folder or list, to HDF5");
  stats->add_option("--images", a->stats_images, "A folder of .png/.jpg images or a text file listing image paths")->required();
  std::string nets;
  for (const auto& n : eval::feature_net_catalogue()) nets += "\n  " + n.name + " (--weights " + n.weights + "): " + n.description;
  stats->add_option("--net", a->stats_net, "Feature network:" + nets)->required();
  stats->add_option("--weights", a->stats_weights, "Its weights (default for toy-classifier: models/toy-classifier)");
  stats->add_option("--out", a->stats_out, "Statistics file to write (.h5)")->required();
  stats
      ->add_option("--resize-crop", a->resize_crop,
                   "First Resize(N) + CenterCrop(N) each image (Pillow bilinear), as FlexIT's ImageNet statistics at 256")
      ->check(CLI::Range(1, 4096));
  stats->add_flag("--by-class", a->by_class,
                  "--images holds one folder per class (sorted names = class ids, the ImageNet train layout): "
                  "also write per-class means (class_means, class_counts) for CSFID");
  add_cache_options(*stats, a->cache);
  stats->add_option("--batch", a->batch, "Images per forward pass")->check(CLI::Range(1, 4096))->capture_default_str();
  CLI::App* fid = sub->add_subcommand("fid", "Fréchet distance of two HDF5 statistics files (mu, sigma)");
  fid->add_option("--stats", a->stats, "Two statistics files")->required()->expected(2);
  fid->add_option("--offset", a->offset, "eps I inside the root: never (exact), always (pytorch-fid's retry branch)")
      ->check(CLI::IsMember({"never", "always"}))
      ->capture_default_str();
  fid->add_option("--eps", a->eps, "The offset")->capture_default_str();
  CLI::App* lpips = sub->add_subcommand("lpips", "LPIPS v0.1 distance of two images of the same size");
  lpips->add_option("images", a->images, "Two images")->required()->expected(2);
  lpips->add_option("--net", a->net, "Backbone: alex, vgg, squeeze")
      ->check(CLI::IsMember({"alex", "vgg", "squeeze"}))
      ->capture_default_str();
  lpips->add_option("--weights", a->weights, "Backbone + head weights (.safetensors, from scripts/convert_weights.py)")->required();
  CLI::App* clip = sub->add_subcommand("clipscore", "CLIPScore of an image and a text (Hessel et al. and torchmetrics conventions)");
  clip->add_option("--model", a->model, "A CLIP model directory (Hugging Face CLIPModel layout, e.g. models/toy-clip)")->required();
  clip->add_option("--image", a->image, "Image")->required();
  clip->add_option("--text", a->text, "Text")->required();
  return {sub, [a, fid, lpips, clip, stats] {
            if (stats->parsed()) {
              std::filesystem::path weights = a->stats_weights;
              if (weights.empty() && a->stats_net == "toy-classifier") weights = "models/toy-classifier";
              const auto catalogue = eval::feature_net_catalogue();
              const bool known = std::any_of(catalogue.begin(), catalogue.end(), [&](const auto& n) { return n.name == a->stats_net; });
              if (weights.empty() && known) throw InputError("--weights", "the feature network '" + a->stats_net + "' needs --weights");
              auto net = eval::make_feature_net(a->stats_net, weights);  // an unknown name is an error listing the known ones
              if (a->resize_crop > 0) net = eval::with_resize_crop(std::move(net), a->resize_crop);
              std::vector<std::filesystem::path> images;
              std::vector<std::int64_t> labels;
              std::int64_t classes = 0;
              if (a->by_class) {
                auto folders = eval::list_class_folders(a->stats_images);
                images = std::move(folders.images);
                labels = std::move(folders.labels);
                classes = folders.classes;
              } else {
                images = eval::list_images(a->stats_images);
              }
              if (images.size() < 2)
                throw InputError(a->stats_images, "statistics need at least 2 images, found " + std::to_string(images.size()));
              const auto run = eval::image_features(net, images, a->cache.dir(), a->batch);
              metrics::StatsFile file{metrics::feature_stats(run.features), net.name, net.weights_hash, net.preprocessing};
              if (a->by_class) metrics::set_class_statistics(file, run.features, at::tensor(labels, at::kLong), classes);
              metrics::write_stats(a->stats_out, file);
              log::info(images.size(), " images, ", run.features.size(1), " features", run.from_cache ? " (from the cache " : "",
                        run.from_cache ? run.cache_entry.string() + ")" : "", ", images sha256 ", run.images_hash);
              std::cout << a->stats_out << '\n';
              return 0;
            }
            if (clip->parsed()) {
              auto model = pipelines::ClipModel::load(a->model);
              torch::NoGradGuard no_grad;
              const at::Tensor i = model.image_embeds_any(image::read(a->image));
              const at::Tensor t = model.text_embeds({a->text});
              const double cos = metrics::paired_cosine(i, t).item<double>();
              std::printf("cosine %.7f\nhessel_clip_s %.7f\ntorchmetrics_clip_score %.5f\n", cos, metrics::hessel_clip_s(i, t),
                          metrics::torchmetrics_clip_score(i, t));
              return 0;
            }
            if (lpips->parsed()) {
              const at::Tensor x = image::read(a->images[0]), y = image::read(a->images[1]);
              if (x.sizes() != y.sizes())
                throw InputError(a->images[1], "size differs from " + a->images[0] + " (LPIPS compares images of the same size)");
              auto model = metrics::load_lpips(a->net, a->weights);
              torch::NoGradGuard no_grad;
              const double d = model->forward(x.unsqueeze(0), y.unsqueeze(0), false, true).distance.item<double>();
              char text[64];
              std::snprintf(text, sizeof text, "%.9g", d);
              std::cout << text << '\n';
              return 0;
            }
            if (!fid->parsed()) return 0;
            const auto s1 = metrics::read_stats(a->stats[0]);
            const auto s2 = metrics::read_stats(a->stats[1]);
            if (!s1.feature_net.empty() && !s2.feature_net.empty() && s1.feature_net != s2.feature_net)
              throw InputError(a->stats[1], "features of '" + s2.feature_net + "' cannot be compared with '" + s1.feature_net + "' (" +
                                                a->stats[0] + ")");
            if (!s1.weights_hash.empty() && !s2.weights_hash.empty() && s1.weights_hash != s2.weights_hash)
              throw InputError(a->stats[1], "the feature network's weights differ from those of " + a->stats[0]);
            if (s1.stats.mu.size(0) != s2.stats.mu.size(0))
              throw InputError(a->stats[1], "has " + std::to_string(s2.stats.mu.size(0)) + "-dimensional features, " + a->stats[0] +
                                                " has " + std::to_string(s1.stats.mu.size(0)));
            metrics::FrechetOptions o;
            o.eps = a->eps;
            o.offset = a->offset == "always" ? metrics::EpsOffset::always : metrics::EpsOffset::never;
            const auto r = metrics::frechet_distance(s1.stats, s2.stats, o);
            log::info("d = ", s1.stats.mu.size(0), ", n = ", s1.stats.n, " / ", s2.stats.n, ", mean term ", r.mean_term,
                      r.offset_applied ? ", eps offset applied" : "");
            if (r.repeated_zero_eigenvalue && !r.offset_applied)
              log::warn(
                  "the covariance product is singular (repeated zero eigenvalue): pytorch-fid may take its eps-offset "
                  "branch here; --offset always reproduces that branch");
            char text[64];
            std::snprintf(text, sizeof text, "%.17g", r.distance);
            std::cout << text << '\n';
            return 0;
          }};
}

}  // namespace diffedit::cli
