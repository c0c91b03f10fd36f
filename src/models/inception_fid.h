// The Inception-v3 of FID (Heusel et al. 2017) as pytorch-fid defines it: torchvision's Inception3
// layout and parameter names (the TF-ported `pt_inception-2015-12-05` weights) with the FID
// variant's differences — BatchNorm eps 1e-3, average-pool branches that do not count padding,
// and a 3x3 max-pool branch in Mixed_7c. Input [B, 3, H, W] in [0, 1] is resized to 299x299
// (bilinear, align_corners=False, no antialias), mapped to 2x - 1, and pooled to 2048 features.
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <vector>

namespace diffedit::models {

class InceptionFidImpl : public torch::nn::Module {
 public:
  InceptionFidImpl();
  // images [B, 3, H, W] in [0, 1] -> pool3 features [B, 2048]. With `blocks`, also the outputs of
  // blocks 0..3 (after the max pools ending blocks 0 and 1, Mixed_6e, and the final pool).
  at::Tensor forward(const at::Tensor& images, std::vector<at::Tensor>* blocks = nullptr);
  // The block-0 input: the resized, 2x - 1 normalised images.
  static at::Tensor preprocess(const at::Tensor& images);

 private:
  struct Conv {  // BasicConv2d: conv (no bias) + BatchNorm(eps 1e-3) + ReLU
    torch::nn::Conv2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    at::Tensor operator()(const at::Tensor& x) const;
  };
  struct Mixed {
    char kind;  // 'A', 'B', 'C', 'D', 'E' (E1: avg pool branch), 'F' (E2: max pool branch)
    std::vector<std::pair<std::string, Conv>> convs;
    const Conv& at(const std::string& name) const;
  };
  Conv conv(torch::nn::Module& parent, const std::string& name, std::int64_t in, std::int64_t out, std::vector<std::int64_t> kernel,
            std::vector<std::int64_t> stride = {1, 1}, std::vector<std::int64_t> padding = {0, 0});
  Mixed mixed(const std::string& name, char kind, std::int64_t in, std::int64_t param = 0);
  at::Tensor run(const Mixed& m, const at::Tensor& x) const;

  std::vector<Conv> stem_;
  std::vector<Mixed> mixed_;
};
TORCH_MODULE(InceptionFid);

// Loads torchvision-named weights (e.g. converted from pytorch-fid's .pth); fc.* is ignored.
InceptionFid load_inception_fid(const std::filesystem::path& weights);

}  // namespace diffedit::models
