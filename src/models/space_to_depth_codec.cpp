#include "models/space_to_depth_codec.h"

#include <ATen/ATen.h>

#include "core/config_keys.h"
#include "core/errors.h"

namespace diffedit::models {

namespace {

using config::Schema;

// config.json keys, each with the member it fills (core/config_keys.h).
const auto& codec_keys() {
  using C = SpaceToDepthConfig;
  static const auto table = std::tuple{config::key("in_channels", &C::in_channels, Schema::integer().range(1, std::nullopt)),
                                       config::key("factor", &C::factor, Schema::integer().range(1, std::nullopt)),
                                       config::key("scaling_factor", &C::scaling_factor, Schema::number())};
  return table;
}

const Schema& codec_schema() {
  static const Schema schema = config::object_schema(
      codec_keys(), {{"_class_name", Schema::string().choices({"SpaceToDepthCodec"})}, {"_diffedit_version", Schema::any()}});
  return schema;
}

}  // namespace

SpaceToDepthConfig SpaceToDepthConfig::from_json(const config::Json& json, const std::string& source) {
  if (!json.is_object()) throw FormatError(source, "expected a JSON object");
  if (json.value("_class_name", std::string()) != "SpaceToDepthCodec")
    throw FormatError(source, "_class_name must be \"SpaceToDepthCodec\"");
  const SpaceToDepthConfig c = config::read_keys<SpaceToDepthConfig>(codec_schema().validate(json, source), codec_keys(), source);
  if (!(c.scaling_factor > 0)) throw FormatError(source, "scaling_factor must be > 0");
  return c;
}

config::Json SpaceToDepthConfig::to_json() const {
  config::Json j = config::write_keys(*this, codec_keys());
  j["_class_name"] = "SpaceToDepthCodec";
  return j;
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
