#include "models/space_to_depth_codec.h"

#include <ATen/ATen.h>

#include "core/errors.h"

namespace diffedit::models {

SpaceToDepthConfig SpaceToDepthConfig::from_json(const config::Json& json, const std::string& source) {
  if (!json.is_object()) throw FormatError(source, "expected a JSON object");
  if (json.value("_class_name", std::string()) != "SpaceToDepthCodec")
    throw FormatError(source, "_class_name must be \"SpaceToDepthCodec\"");
  SpaceToDepthConfig c;
  for (const auto& [key, value] : json.items()) {
    try {
      if (key == "in_channels")
        c.in_channels = value.get<std::int64_t>();
      else if (key == "factor")
        c.factor = value.get<std::int64_t>();
      else if (key == "scaling_factor")
        c.scaling_factor = value.get<double>();
      else if (key != "_class_name" && key != "_diffedit_version")
        throw FormatError(source, "unknown key '" + key + "'");
    } catch (const config::Json::exception&) {
      throw FormatError(source, "'" + key + "' has the wrong type");
    }
  }
  if (c.in_channels < 1 || c.factor < 1 || !(c.scaling_factor > 0))
    throw FormatError(source, "in_channels and factor must be >= 1 and scaling_factor > 0");
  return c;
}

config::Json SpaceToDepthConfig::to_json() const {
  return {{"_class_name", "SpaceToDepthCodec"}, {"in_channels", in_channels}, {"factor", factor}, {"scaling_factor", scaling_factor}};
}

std::optional<SpaceToDepthConfig> load_space_to_depth_codec(const std::filesystem::path& dir) {
  const auto path = dir / "config.json";
  if (!std::filesystem::exists(path)) return std::nullopt;
  const config::Json j = config::load_json(path);
  if (!j.is_object() || j.value("_class_name", std::string()) != "SpaceToDepthCodec") return std::nullopt;
  return SpaceToDepthConfig::from_json(j, path.string());
}

at::Tensor space_to_depth(const at::Tensor& image, std::int64_t f) {
  const auto b = image.size(0), c = image.size(1), h = image.size(2), w = image.size(3);
  if (h % f || w % f)
    throw InputError("image",
                     "size " + std::to_string(h) + "x" + std::to_string(w) + " is not a multiple of the codec factor " + std::to_string(f));
  // [B, C, H/f, f, W/f, f] -> [B, C, f, f, H/f, W/f]: channel index c * f^2 + i * f + j (torch's pixel_unshuffle order).
  return image.reshape({b, c, h / f, f, w / f, f}).permute({0, 1, 3, 5, 2, 4}).reshape({b, c * f * f, h / f, w / f});
}

at::Tensor depth_to_space(const at::Tensor& latent, std::int64_t f) {
  const auto b = latent.size(0), cf = latent.size(1), h = latent.size(2), w = latent.size(3);
  const auto c = cf / (f * f);
  return latent.reshape({b, c, f, f, h, w}).permute({0, 1, 4, 2, 5, 3}).reshape({b, c, h * f, w * f});
}

}  // namespace diffedit::models
