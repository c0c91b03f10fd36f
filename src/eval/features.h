// Feature networks chosen by name — the parameter of FID, CSFID and KID (Inception for real data,
// the toy classifier for the toy world) — and an on-disk cache of the features of image sets.
//
// A cache entry is keyed by (network name, SHA-256 of its weights, preprocessing text, SHA-256 of
// the image list's contents in order): moving or renaming images still hits, changing one pixel,
// the order, the weights or the preprocessing misses. Entries are safetensors files whose metadata
// repeats the key; an entry that does not match or does not parse is ignored with a warning and
// rewritten.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace diffedit::eval {

struct FeatureNet {
  std::string name;           // e.g. "inception-fid"
  std::string weights_hash;   // SHA-256 of the weights (files in a fixed order)
  std::string preprocessing;  // how images become network input, in words (recorded with statistics)
  // images [B, 3, H, W] in [0, 1] (CPU) -> features [B, d] float32 (CPU), whatever the device the
  // network runs on.
  std::function<at::Tensor(const at::Tensor&)> extract;
  // Applied to each image file's [3, H, W] before batching, when set (with_resize_crop).
  std::function<at::Tensor(const at::Tensor&)> prepare;
};

// `net` reading image files through torchvision's Resize(n) + CenterCrop(n) (Pillow bilinear), as
// FlexIT's statistics of ImageNet at 256 were made; the preprocessing text says so.
FeatureNet with_resize_crop(FeatureNet net, std::int64_t n);

struct FeatureNetInfo {
  std::string name, weights, description;
};
// The networks `make_feature_net` knows, with what their weights argument is.
std::vector<FeatureNetInfo> feature_net_catalogue();

// `weights`: a .safetensors file (inception-fid, lpips-*) or a model directory (toy-classifier,
// clip). ConfigError for an unknown name (with the known ones), FileError/FormatError for weights.
// The network runs on `device`.
FeatureNet make_feature_net(const std::string& name, const std::filesystem::path& weights, const at::Device& device = at::kCPU);

// A folder (its .png/.jpg/.jpeg files, sorted by name) or a text file listing one image path per
// line (relative paths are relative to the list; blank lines and '#' comments are skipped).
std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder_or_list);

// Images in class folders (the ImageNet train layout): `root`'s subfolders sorted by name are the
// classes 0..K-1; a folder without images keeps its id. FileError when `root` is not a directory,
// InputError when it has no subfolder.
struct ClassFolders {
  std::vector<std::filesystem::path> images;
  std::vector<std::int64_t> labels;  // per image
  std::int64_t classes = 0;
};
ClassFolders list_class_folders(const std::filesystem::path& root);

// SHA-256 over the images' contents, in order.
std::string image_list_hash(const std::vector<std::filesystem::path>& images);

struct FeatureRun {
  at::Tensor features;  // [N, d] float32
  bool from_cache = false;
  std::filesystem::path cache_entry;  // empty when no cache directory was given
  std::string images_hash;
};

// Features of image files in batches of up to `batch` images of equal size; through the cache in
// `cache_dir` when it is not empty.
FeatureRun image_features(FeatureNet& net, const std::vector<std::filesystem::path>& images, const std::filesystem::path& cache_dir,
                          std::int64_t batch = 32, const std::function<void(std::int64_t done)>& progress = {});

// Features from the cache entry for (net, `key`) in `cache_dir` when present and valid, else from
// `compute()` (then stored). `key` describes the inputs completely (e.g. an image list's hash or a
// dataset specification). An empty `cache_dir` disables the cache.
at::Tensor cached_features(const FeatureNet& net, const std::filesystem::path& cache_dir, const std::string& key,
                           const std::function<at::Tensor()>& compute, bool* from_cache = nullptr, std::filesystem::path* entry = nullptr);

// The default cache folder: $DIFFEDIT_CACHE, else $XDG_CACHE_HOME/diffedit-bench, else
// ~/.cache/diffedit-bench; with "/features" appended.
std::filesystem::path default_feature_cache();

}  // namespace diffedit::eval
