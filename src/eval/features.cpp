#include "eval/features.h"

#include <ATen/ATen.h>
#include <torch/nn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "core/errors.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "image/io.h"
#include "image/resize.h"
#include "metrics/lpips.h"
#include "models/inception_fid.h"
#include "models/toy_classifier.h"
#include "pipelines/clip_model.h"

namespace diffedit::eval {

namespace {

std::string hash_files(const std::vector<std::filesystem::path>& files) {
  hash::Sha256 h;
  for (const auto& f : files) h.update(hash::sha256_file(f) + "\n");
  return h.hex();
}

void require_file(const std::filesystem::path& p, const std::string& what) {
  if (!std::filesystem::is_regular_file(p)) throw FileError(p.string(), what + " not found");
}

}  // namespace

std::vector<FeatureNetInfo> feature_net_catalogue() {
  return {
      {"inception-fid", "weights.safetensors", "pytorch-fid's Inception-v3, pool3 (2048): FID/KID/CSFID on real images"},
      {"toy-classifier", "model dir", "the toy world's classifier, penultimate features (4 x width)"},
      {"clip", "CLIPModel dir", "CLIP image embeddings (projection output, unnormalised)"},
      {"lpips-alex", "weights.safetensors", "LPIPS AlexNet taps: unit-normalised, spatially averaged, concatenated"},
      {"lpips-vgg", "weights.safetensors", "LPIPS VGG16 taps, as lpips-alex"},
      {"lpips-squeeze", "weights.safetensors", "LPIPS SqueezeNet 1.1 taps, as lpips-alex"},
  };
}

FeatureNet make_feature_net(const std::string& name, const std::filesystem::path& weights, const at::Device& device) {
  FeatureNet net;
  net.name = name;
  if (name == "inception-fid") {
    require_file(weights, "FID Inception weights");
    auto model = models::load_inception_fid(weights);
    model->to(device);
    net.weights_hash = hash::sha256_file(weights);
    net.preprocessing = "RGB in [0,1]; bilinear resize to 299x299 (align_corners=False, no antialias); 2x-1; pool3";
    net.extract = [model](const at::Tensor& images) mutable { return model->forward(images).to(at::kFloat); };
  } else if (name == "toy-classifier") {
    require_file(weights / "model.safetensors", "toy classifier weights");
    auto model = models::load_toy_classifier(weights);
    model->to(device);
    net.weights_hash = hash_files({weights / "config.json", weights / "model.safetensors"});
    net.preprocessing = "RGB in [0,1] at 32x32, no resize; global average of the last stage";
    net.extract = [model](const at::Tensor& images) mutable {
      if (images.size(2) != 32 || images.size(3) != 32)
        throw InputError("toy-classifier",
                         "expects 32x32 images, got " + std::to_string(images.size(3)) + "x" + std::to_string(images.size(2)));
      return model->features(images).to(at::kFloat);
    };
  } else if (name == "clip") {
    require_file(weights / "model.safetensors", "CLIP weights");
    auto model = std::make_shared<pipelines::ClipModel>(pipelines::ClipModel::load(weights));
    model->to(device);
    net.weights_hash = hash_files({weights / "config.json", weights / "model.safetensors"});
    net.preprocessing = "uint8 RGB; Pillow bicubic resize of the shorter side to " + std::to_string(model->preprocess.size) +
                        ", centre crop, CLIP mean/std; image_embeds";
    net.extract = [model](const at::Tensor& images) {
      std::vector<at::Tensor> out;
      for (std::int64_t i = 0; i < images.size(0); ++i) out.push_back(model->image_embeds_any(images[i]));
      return at::cat(out).to(at::kFloat);
    };
  } else if (name == "lpips-alex" || name == "lpips-vgg" || name == "lpips-squeeze") {
    require_file(weights, "LPIPS weights");
    auto model = metrics::load_lpips(name.substr(6), weights);
    model->to(device);
    net.weights_hash = hash::sha256_file(weights);
    net.preprocessing = "RGB in [0,1]; 2x-1; LPIPS scaling layer; each tap unit-normalised over channels, spatially averaged; concatenated";
    net.extract = [model](const at::Tensor& images) {
      std::vector<at::Tensor> pooled;
      for (const at::Tensor& f : model->backbone()->forward(metrics::LpipsImpl::scaling_layer(2 * images - 1)))
        pooled.push_back(metrics::unit_normalize(f).mean({2, 3}));
      return at::cat(pooled, 1).to(at::kFloat);
    };
  } else {
    std::string known;
    for (const auto& n : feature_net_catalogue()) known += (known.empty() ? "" : ", ") + n.name;
    throw ConfigError("feature_net", "unknown feature network '" + name + "'; known: " + known);
  }
  if (device != at::kCPU)  // images arrive and features leave on the CPU (the cache and records hold them)
    net.extract = [extract = std::move(net.extract), device](const at::Tensor& images) { return extract(images.to(device)).to(at::kCPU); };
  return net;
}

std::vector<std::filesystem::path> list_images(const std::filesystem::path& source) {
  std::vector<std::filesystem::path> out;
  if (std::filesystem::is_directory(source)) {
    for (const auto& e : std::filesystem::directory_iterator(source)) {
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
      if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
  } else if (std::filesystem::is_regular_file(source)) {
    std::ifstream in(source);
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      const auto start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      const std::filesystem::path p(line.substr(start));
      out.push_back(p.is_absolute() ? p : source.parent_path() / p);
    }
  } else {
    throw FileError(source.string(), "no such folder or image list");
  }
  if (out.empty()) throw InputError(source.string(), "contains no images (.png, .jpg, .jpeg)");
  return out;
}

ClassFolders list_class_folders(const std::filesystem::path& root) {
  if (!std::filesystem::is_directory(root)) throw FileError(root.string(), "not a directory of class folders");
  std::vector<std::filesystem::path> folders;
  for (const auto& e : std::filesystem::directory_iterator(root))
    if (e.is_directory()) folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  if (folders.empty()) throw InputError(root.string(), "no class folders");
  ClassFolders out;
  for (const auto& folder : folders) {
    const bool has_files = std::any_of(std::filesystem::directory_iterator(folder), std::filesystem::directory_iterator(),
                                       [](const auto& e) { return e.is_regular_file(); });
    const auto in_class = has_files ? list_images(folder) : std::vector<std::filesystem::path>{};
    out.images.insert(out.images.end(), in_class.begin(), in_class.end());
    out.labels.insert(out.labels.end(), in_class.size(), out.classes++);
  }
  return out;
}

std::string image_list_hash(const std::vector<std::filesystem::path>& images) { return hash_files(images); }

FeatureNet with_resize_crop(FeatureNet net, std::int64_t n) {
  net.preprocessing = "torchvision Resize(" + std::to_string(n) + ") + CenterCrop(" + std::to_string(n) +
                      ") with Pillow's bilinear filter on the uint8 image; then " + net.preprocessing;
  net.prepare = [n](const at::Tensor& image) { return image::resize_center_crop(image, n, image::Filter::bilinear); };
  return net;
}

std::filesystem::path default_feature_cache() {
  if (const char* d = std::getenv("DIFFEDIT_CACHE"); d && *d) return std::filesystem::path(d) / "features";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "diffedit-bench" / "features";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "diffedit-bench" / "features";
  return std::filesystem::temp_directory_path() / "diffedit-bench" / "features";
}

at::Tensor cached_features(const FeatureNet& net, const std::filesystem::path& cache_dir, const std::string& key,
                           const std::function<at::Tensor()>& compute, bool* from_cache, std::filesystem::path* entry) {
  const std::map<std::string, std::string> meta = {
      {"feature_net", net.name}, {"weights_hash", net.weights_hash}, {"preprocessing", net.preprocessing}, {"inputs", key}};
  if (from_cache) *from_cache = false;
  std::filesystem::path path;
  if (!cache_dir.empty()) {
    std::string joined;
    for (const auto& [k, v] : meta) joined += k + "=" + v + "\n";
    path = cache_dir / (net.name + "-" + hash::sha256(joined).substr(0, 32) + ".safetensors");
    if (entry) *entry = path;
    if (std::filesystem::exists(path)) {
      try {
        const auto file = safetensors::File::open(path);
        if (file.metadata() != meta) throw FormatError(path.string(), "its key differs (hash collision or edited file)");
        at::Tensor f = file.tensor("features");
        if (f.dim() != 2) throw FormatError(path.string(), "features are not a matrix");
        if (from_cache) *from_cache = true;
        return f.to(at::kFloat).clone();
      } catch (const Error& e) {
        log::warn("ignoring feature cache entry ", path.string(), ": ", e.problem());
      }
    }
  }
  at::Tensor features = compute();
  if (!at::isfinite(features).all().item<bool>()) throw NumericError(net.name, "non-finite features for " + key);
  if (!path.empty()) {
    std::filesystem::create_directories(cache_dir);
    safetensors::write(path, {{"features", features}}, meta);
  }
  return features;
}

FeatureRun image_features(FeatureNet& net, const std::vector<std::filesystem::path>& images, const std::filesystem::path& cache_dir,
                          std::int64_t batch, const std::function<void(std::int64_t)>& progress) {
  FeatureRun run;
  run.images_hash = image_list_hash(images);
  const std::string key = "images sha256 " + run.images_hash + ", n " + std::to_string(images.size());
  run.features = cached_features(
      net, cache_dir, key,
      [&] {
        torch::NoGradGuard no_grad;
        std::vector<at::Tensor> parts, pending;
        std::int64_t done = 0;
        auto flush = [&] {
          if (pending.empty()) return;
          parts.push_back(net.extract(at::stack(pending)));
          done += static_cast<std::int64_t>(pending.size());
          pending.clear();
          if (progress) progress(done);
        };
        for (const auto& path : images) {
          at::Tensor image = image::read(path);
          if (net.prepare) image = net.prepare(image);
          if (!pending.empty() && (pending.front().sizes() != image.sizes() || static_cast<std::int64_t>(pending.size()) >= batch)) flush();
          pending.push_back(image);
        }
        flush();
        return at::cat(parts);
      },
      &run.from_cache, &run.cache_entry);
  if (run.features.size(0) != static_cast<std::int64_t>(images.size()))
    throw FormatError(run.cache_entry.string(), "cached features have the wrong number of rows");
  return run;
}

}  // namespace diffedit::eval
