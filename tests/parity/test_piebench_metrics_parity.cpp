// PIE-Bench metric parity (fixture: piebench-v1): the masked float32 images, LPIPS and CLIP inputs
// bit-exact, PSNR/MSE/SSIM/LPIPS within the README's tolerances on the 6 unit cases and the 5
// end-to-end items, the "nan" (skipped) and "inf" rules, the SSIM map and window, the CLIP
// processor's floor crop, and the metric table. Structure distance and CLIP scores are not here
// (the former is DINO's test; the reference's CLIP values are not computed: real weights only).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "core/config.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/safetensors.h"
#include "generated_weights.h"
#include "image/io.h"
#include "image/resize.h"
#include "metrics/clip_score.h"
#include "metrics/piebench_metrics.h"
#include "parity_support.h"
#include "piebench_tolerances.h"
#include "pipelines/clip_model.h"
#include "test_support.h"

namespace m = diffedit::metrics;
using diffedit::testing::fixture;

namespace {

const std::string kRoot = "piebench-v1/";

const diffedit::config::Json& json_of(const std::string& relative) {
  static std::map<std::string, diffedit::config::Json> cache;
  auto it = cache.find(relative);
  if (it == cache.end()) it = cache.emplace(relative, diffedit::config::load_json(fixture(kRoot + relative))).first;
  return it->second;
}

// The LPIPS squeeze network from this set's weights_spec.json (the metrics-v1 rule, this set's seeds).
m::PerceptualDistance generated_squeeze() {
  const diffedit::testing::ScratchDir dir;
  return m::PerceptualDistance::load("lpips-squeeze", diffedit::testing::write_piebench_squeeze(dir.path()));
}

std::string sha256_of(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return diffedit::hash::sha256(std::string_view(static_cast<const char*>(c.data_ptr()), c.nbytes()));
}

// Largest |deviation| / tolerance seen per kind, printed at the end of a test.
struct Deviations {
  std::map<std::string, std::pair<double, double>> worst;  // kind -> (|deviation|, its tolerance)
  void add(const std::string& kind, double deviation, double tol) {
    auto& w = worst[kind];
    if (deviation / tol >= w.first / std::max(w.second, 1e-300)) w = {deviation, tol};
  }
  ~Deviations() {
    for (const auto& [kind, w] : worst) std::printf("  [piebench] %-5s max |dev| %.3g (tolerance %.3g)\n", kind.c_str(), w.first, w.second);
  }
};

std::string kind_name(m::PieBenchKind kind) {
  switch (kind) {
    case m::PieBenchKind::psnr: return "psnr";
    case m::PieBenchKind::mse: return "mse";
    case m::PieBenchKind::ssim: return "ssim";
    case m::PieBenchKind::lpips: return "lpips";
    default: return "other";
  }
}

// Checks one metric value against the reference's JSON value (a number, "nan" = skipped, "inf").
void expect_value(const std::string& where, const m::PieBenchMetric& spec, const m::PieBenchValue& got, const diffedit::config::Json& want,
                  Deviations& deviations) {
  if (want.is_string() && want.get<std::string>() == "nan") {
    EXPECT_TRUE(got.is_skipped()) << where << ": the reference skips it";
    return;
  }
  ASSERT_FALSE(got.is_skipped()) << where;
  if (want.is_string()) {
    ASSERT_EQ(want.get<std::string>(), "inf") << where;
    EXPECT_EQ(got.value(), std::numeric_limits<double>::infinity()) << where;
    return;
  }
  const double expected = want.get<double>(), tol = diffedit::testing::piebench_tolerance(spec.kind, expected);
  const double deviation = std::abs(got.value() - expected);
  deviations.add(kind_name(spec.kind), deviation, tol);
  EXPECT_LE(deviation, tol) << where << ": " << got.value() << " vs " << expected;
}

bool computed_here(const m::PieBenchMetric& spec) {
  return spec.kind != m::PieBenchKind::structure_distance && spec.kind != m::PieBenchKind::clip_similarity;
}

const diffedit::safetensors::File& unit_inputs() {
  static const auto f = diffedit::safetensors::File::open(fixture(kRoot + "metrics/inputs.safetensors"));
  return f;
}
const diffedit::safetensors::File& unit_expected() {
  static const auto f = diffedit::safetensors::File::open(fixture(kRoot + "metrics/expected.safetensors"));
  return f;
}

// A file as np.array(Image.open(path)): uint8 [H, W, 3].
at::Tensor read_u8(const std::filesystem::path& path) {
  return (diffedit::image::read(path) * 255).round().to(at::kByte).permute({1, 2, 0}).contiguous();
}

}  // namespace

TEST(PieBenchMetricsParity, MetricTableIsEvaluatePys) {
  const auto& metrics = json_of("expected/metrics.json");
  const auto order = metrics.at("metrics_order").get<std::vector<std::string>>();
  ASSERT_EQ(order.size(), m::kPieBenchMetrics.size());
  const auto defaults = metrics.at("paper_default_metrics").get<std::set<std::string>>();
  const auto& scales = metrics.at("paper_table_scale");
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto& spec = m::kPieBenchMetrics[i];
    EXPECT_EQ(spec.name, order[i]);
    EXPECT_EQ(&m::piebench_metric_spec(order[i]), &spec);
    EXPECT_EQ(spec.by_default, defaults.count(order[i]) == 1) << order[i];
    EXPECT_EQ(spec.in_table, scales.contains(order[i])) << order[i];
    if (spec.in_table) {
      EXPECT_EQ(spec.table_scale, scales.at(order[i]).get<double>()) << order[i];
    }
    // The name spells the part.
    const bool edit = order[i].ends_with("_edit_part") && !order[i].ends_with("_unedit_part");
    EXPECT_EQ(spec.part == m::PieBenchPart::edit, edit) << order[i];
    EXPECT_EQ(spec.part == m::PieBenchPart::unedit, order[i].ends_with("_unedit_part")) << order[i];
  }
  EXPECT_THROW(m::piebench_metric_spec("psnr_background"), diffedit::InputError);
}

TEST(PieBenchMetricsParity, UnitCasesInputsAreBitExact) {
  for (const auto& c : json_of("metrics/cases.json").at("cases")) {
    const std::string name = c.at("name");
    const at::Tensor src = unit_inputs().tensor(name + ".src_u8"), tgt = unit_inputs().tensor(name + ".tgt_u8");
    const at::Tensor mask = unit_expected().tensor(name + ".mask_f64");
    for (const auto& [part, label] : {std::pair{m::PieBenchPart::unedit, "unedit"}, std::pair{m::PieBenchPart::edit, "edit"}}) {
      const at::Tensor part_mask = m::piebench_part_mask(mask, part);
      const std::string key = name + "." + label + ".";
      EXPECT_TRUE(at::equal(m::piebench_masked(src, part_mask), unit_expected().tensor(key + "src_masked_f32"))) << key;
      EXPECT_TRUE(at::equal(m::piebench_masked(tgt, part_mask), unit_expected().tensor(key + "tgt_masked_f32"))) << key;
    }
    const std::string clip = name + ".clip_similarity_";
    EXPECT_TRUE(at::equal(m::piebench_clip_image(src, {}), unit_expected().tensor(clip + "source_image.clip_input_u8"))) << name;
    EXPECT_TRUE(at::equal(m::piebench_clip_image(tgt, {}), unit_expected().tensor(clip + "target_image.clip_input_u8"))) << name;
    EXPECT_TRUE(at::equal(m::piebench_clip_image(tgt, mask), unit_expected().tensor(clip + "target_image_edit_part.clip_input_u8")))
        << name;
  }
}

TEST(PieBenchMetricsParity, UnitCasesValues) {
  m::PieBenchNetworks networks;
  networks.lpips = generated_squeeze();
  Deviations deviations;
  for (const auto& c : json_of("metrics/cases.json").at("cases")) {
    const std::string name = c.at("name");
    const at::Tensor src = unit_inputs().tensor(name + ".src_u8"), tgt = unit_inputs().tensor(name + ".tgt_u8");
    const at::Tensor mask = unit_expected().tensor(name + ".mask_f64");
    for (const auto& spec : m::kPieBenchMetrics) {
      if (!computed_here(spec)) continue;
      const auto got = m::piebench_metric(spec.name, src, tgt, mask, c.at("src_prompt"), c.at("tgt_prompt"), networks);
      expect_value(name + " " + std::string(spec.name), spec, got, c.at("values").at(std::string(spec.name)), deviations);
    }
  }
}

TEST(PieBenchMetricsParity, SsimWindowAndFullMaps) {
  const auto& cases = json_of("metrics/cases.json");
  const auto& ssim = cases.at("ssim");
  ASSERT_EQ(ssim.at("kernel_size").get<int>(), 11);
  ASSERT_EQ(ssim.at("sigma").get<double>(), 1.5);
  EXPECT_TRUE(diffedit::testing::within("gaussian taps", m::piebench_ssim_gaussian(), unit_expected().tensor("ssim_gaussian_1d"), 1e-8));
  double worst = 0;
  for (const std::string name : {"u0_blob", "u4_odd_37x56"}) {
    const at::Tensor src = unit_inputs().tensor(name + ".src_u8"), tgt = unit_inputs().tensor(name + ".tgt_u8");
    const at::Tensor mask = unit_expected().tensor(name + ".mask_f64");
    for (const auto& [metric, part] : {std::pair{"ssim", m::PieBenchPart::whole}, std::pair{"ssim_unedit_part", m::PieBenchPart::unedit},
                                       std::pair{"ssim_edit_part", m::PieBenchPart::edit}}) {
      const at::Tensor part_mask = m::piebench_part_mask(mask, part);
      const at::Tensor map = m::piebench_ssim_map(m::piebench_masked(src, part_mask), m::piebench_masked(tgt, part_mask));
      const at::Tensor want = unit_expected().tensor(name + "." + metric + ".ssim_map_full");
      worst = std::max(worst, diffedit::testing::max_abs_diff(map, want));
      EXPECT_TRUE(diffedit::testing::within(name + " " + metric + " map", map, want, 2e-3));
    }
  }
  std::printf("  [piebench] ssim map max |dev| %.3g (tolerance 2e-3)\n", worst);
}

TEST(PieBenchMetricsParity, ClipProcessorFloorsTheCrop) {
  // transformers rescales in float64 then casts; image/clip_preprocess divides in float32: the same
  // float32 for every uint8 value.
  for (int v = 0; v < 256; ++v) ASSERT_EQ(static_cast<float>(v) / 255.0f, static_cast<float>(static_cast<double>(v) * (1.0 / 255.0))) << v;

  const std::string name = "u4_odd_37x56", key = name + ".clip_similarity_target_image_edit_part.";
  const at::Tensor clip_image = m::piebench_clip_image(unit_inputs().tensor(name + ".tgt_u8"), unit_expected().tensor(name + ".mask_f64"));
  const auto box = diffedit::image::resize_crop_box(37, 56, 224, diffedit::image::CropOffset::floor);
  EXPECT_EQ(box.height, 224);
  EXPECT_EQ(box.width, 339);
  EXPECT_EQ(box.top, 0);
  EXPECT_EQ(box.left, 57);
  EXPECT_EQ(diffedit::image::resize_crop_box(37, 56, 224).left, 58) << "torchvision rounds half to even";
  const at::Tensor resized =
      diffedit::image::pil_resize_u8(clip_image.permute({1, 2, 0}).contiguous(), box.height, box.width, diffedit::image::Filter::bicubic);
  EXPECT_TRUE(at::equal(resized, unit_expected().tensor(key + "clip_resized_u8_hwc")));
  EXPECT_TRUE(at::equal(m::piebench_clip_pixel_values(clip_image), unit_expected().tensor(key + "clip_pixel_values")));
  // The wide case: 24 x 64 -> 224 x 597, left (597 - 224) // 2.
  const auto wide = diffedit::image::resize_crop_box(24, 64, 224, diffedit::image::CropOffset::floor);
  EXPECT_EQ(wide.width, 597);
  EXPECT_EQ(wide.left, 186);
}

TEST(PieBenchMetricsParity, EndToEndItems) {
  const auto& metrics = json_of("expected/metrics.json");
  const auto masks = diffedit::safetensors::File::open(fixture(kRoot + "expected/masks.safetensors"));
  const auto e2e = diffedit::safetensors::File::open(fixture(kRoot + "expected/e2e_tensors.safetensors"));
  m::PieBenchNetworks networks;
  networks.lpips = generated_squeeze();
  Deviations deviations;
  for (const auto& item : json_of("expected/parse.json").at("items")) {
    const std::string key = item.at("key"), path = item.at("image_path");
    SCOPED_TRACE(key);
    at::Tensor src = read_u8(fixture(kRoot + "data/annotation_images/" + path));
    at::Tensor tgt = read_u8(fixture(kRoot + "output/ddim+p2p/annotation_images/" + path));
    if (sha256_of(src) != item.at("src_u8_sha256").get<std::string>() && path.ends_with(".jpg")) {
      // README: another JPEG decoder may differ from PIL's; these are lossless copies of PIL's decode.
      std::printf("  [piebench] %s: the JPEG decode differs from PIL's, using expected/decoded\n", key.c_str());
      src = read_u8(fixture(kRoot + "expected/decoded/" + key + ".src.png"));
      tgt = read_u8(fixture(kRoot + "expected/decoded/" + key + ".tgt.png"));
    }
    // A target that is not square is cropped to its bottom-right 512 x 512 (ev l.271-273).
    if (tgt.size(0) != tgt.size(1)) tgt = tgt.slice(0, tgt.size(0) - 512).slice(1, tgt.size(1) - 512).contiguous();
    ASSERT_EQ(sha256_of(src), item.at("src_u8_sha256").get<std::string>());
    ASSERT_EQ(sha256_of(tgt), item.at("tgt_u8_sha256_after_crop").get<std::string>());
    const at::Tensor mask = masks.tensor("mask." + key);
    const std::string original = item.at("original_prompt"), editing = item.at("editing_prompt");

    const auto& values = metrics.at("items").at(key).at("values");
    for (const auto& spec : m::kPieBenchMetrics)
      if (computed_here(spec))
        expect_value(key + " " + std::string(spec.name), spec, m::piebench_metric(spec.name, src, tgt, mask, original, editing, networks),
                     values.at(std::string(spec.name)), deviations);

    const auto& inputs = metrics.at("network_inputs").at(key);
    for (const auto& spec : m::kPieBenchMetrics) {
      const std::string name(spec.name);
      if (spec.kind != m::PieBenchKind::lpips && spec.kind != m::PieBenchKind::clip_similarity) continue;
      if (!inputs.contains(name)) {
        EXPECT_TRUE(m::piebench_part_empty(mask, spec.part)) << name << ": no recorded network inputs, so the reference skipped it";
        continue;
      }
      const auto& rec = inputs.at(name);
      if (spec.kind == m::PieBenchKind::lpips) {
        const at::Tensor part_mask = m::piebench_part_mask(mask, spec.part);
        const at::Tensor in_src = m::piebench_lpips_input(m::piebench_masked(src, part_mask));
        const at::Tensor in_tgt = m::piebench_lpips_input(m::piebench_masked(tgt, part_mask));
        EXPECT_EQ(in_src.sizes().vec(), rec.at("lpips_in_src").at("shape").get<std::vector<std::int64_t>>()) << name;
        EXPECT_EQ(sha256_of(in_src), rec.at("lpips_in_src").at("sha256").get<std::string>()) << name;
        EXPECT_EQ(sha256_of(in_tgt), rec.at("lpips_in_tgt").at("sha256").get<std::string>()) << name;
      } else if (spec.kind == m::PieBenchKind::clip_similarity) {
        const bool source = spec.images == m::PieBenchImages::source;
        EXPECT_EQ(rec.at("clip_text").get<std::string>(), source ? original : editing) << name;
        const at::Tensor image = m::piebench_clip_image(source ? src : tgt, spec.part == m::PieBenchPart::edit ? mask : at::Tensor());
        EXPECT_EQ(sha256_of(image), rec.at("clip_image_u8").at("sha256").get<std::string>()) << name;
        const auto box = diffedit::image::resize_crop_box(image.size(1), image.size(2), 224, diffedit::image::CropOffset::floor);
        EXPECT_EQ((std::vector<std::int64_t>{box.height, box.width}), rec.at("clip_resize_hw").get<std::vector<std::int64_t>>()) << name;
        EXPECT_EQ((std::vector<std::int64_t>{box.top, box.left}), rec.at("clip_crop_top_left").get<std::vector<std::int64_t>>()) << name;
        const at::Tensor pixel_values = m::piebench_clip_pixel_values(image);
        EXPECT_EQ(sha256_of(pixel_values), rec.at("clip_pixel_values").at("sha256").get<std::string>()) << name;
        const std::string stored = key + "." + name + ".clip_pixel_values";
        if (e2e.contains(stored)) {
          EXPECT_TRUE(at::equal(pixel_values, e2e.tensor(stored))) << stored;
        }
      }
    }
  }
}

TEST(PieBenchMetricsParity, ClipScoreSlicesLongPromptsToThe77FirstIds) {
  auto clip = std::make_shared<diffedit::pipelines::ClipModel>(
      diffedit::pipelines::ClipModel::load(diffedit::testing::source_dir() / "models/toy-clip"));
  std::string long_prompt = "a photo of";
  for (int i = 0; i < 40; ++i) long_prompt += " a red cat and";
  const auto ids = clip->tokenizer.encode_untruncated(long_prompt);
  ASSERT_GT(ids.size(), 77u);
  EXPECT_EQ(ids.front(), clip->tokenizer.bos_id());
  EXPECT_EQ(ids.back(), clip->tokenizer.eos_id());

  const at::Tensor src = unit_inputs().tensor("u0_blob.src_u8"), tgt = unit_inputs().tensor("u0_blob.tgt_u8");
  const at::Tensor mask = unit_expected().tensor("u0_blob.mask_f64");
  m::PieBenchNetworks networks;
  networks.clip = clip;
  torch::NoGradGuard no_grad;
  // A short prompt: the unpadded ids pool where the padded ones do (causal attention).
  diffedit::image::ClipPreprocess options = clip->preprocess;
  options.crop = diffedit::image::CropOffset::floor;
  const at::Tensor pixel_values = m::piebench_clip_pixel_values(m::piebench_clip_image(tgt, mask), options).unsqueeze(0);
  const double want = m::torchmetrics_clip_score(clip->vision->forward(pixel_values).image_embeds, clip->text_embeds({"a green apple"}));
  const auto got = m::piebench_metric("clip_similarity_target_image_edit_part", src, tgt, mask, "a red apple", "a green apple", networks);
  ASSERT_FALSE(got.is_skipped());
  EXPECT_NEAR(got.value(), want, 1e-4);
  // A long prompt: its first 77 ids, without EOS.
  const at::Tensor sliced = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.begin() + 77), at::kLong).unsqueeze(0);
  const double want_long =
      m::torchmetrics_clip_score(clip->vision->forward(pixel_values).image_embeds, clip->text->forward(sliced).text_embeds);
  const auto got_long = m::piebench_metric("clip_similarity_target_image_edit_part", src, tgt, mask, "", long_prompt, networks);
  EXPECT_NEAR(got_long.value(), want_long, 1e-4);
  EXPECT_GE(got_long.value(), 0.0);
}

TEST(PieBenchMetricsParity, SkipsAndMissingNetworksAndBadInputs) {
  const at::Tensor src = unit_inputs().tensor("u3_fullmask.src_u8"), tgt = unit_inputs().tensor("u3_fullmask.tgt_u8");
  const at::Tensor mask = unit_expected().tensor("u3_fullmask.mask_f64");
  const m::PieBenchNetworks none;
  // A skipped metric needs no network: the reference returns "nan" before computing.
  for (const std::string name : {"lpips_unedit_part", "structure_distance_unedit_part", "psnr_unedit_part"})
    EXPECT_TRUE(m::piebench_metric(name, src, tgt, mask, "", "", none).is_skipped()) << name;
  EXPECT_TRUE(std::isnan(m::PieBenchValue::skipped().value()));
  EXPECT_FALSE(m::PieBenchValue::computed(std::nan("")).is_skipped()) << "a computed NaN is not a skip";
  for (const std::string name : {"lpips", "structure_distance", "clip_similarity_source_image"})
    EXPECT_THROW(m::piebench_metric(name, src, tgt, mask, "", "", none), diffedit::InputError) << name;
  // The structure distance callback gets the part's float32 mask (undefined for the whole image).
  m::PieBenchNetworks networks;
  networks.structure_distance = [](const at::Tensor&, const at::Tensor&, const at::Tensor& part_mask) {
    return part_mask.defined() ? part_mask.sum().item<double>() : -1.0;
  };
  EXPECT_EQ(m::piebench_metric("structure_distance", src, tgt, mask, "", "", networks).value(), -1.0);
  EXPECT_EQ(m::piebench_metric("structure_distance_edit_part", src, tgt, mask, "", "", networks).value(), 64.0 * 64.0);
  EXPECT_THROW(m::piebench_metric("psnr", src, tgt.slice(0, 0, 32), mask, "", "", none), diffedit::InputError);
  EXPECT_THROW(m::piebench_metric("psnr", src, tgt, mask.slice(0, 0, 32), "", "", none), diffedit::InputError);
  EXPECT_THROW(m::piebench_metric("psnr", src.to(at::kFloat), tgt, mask, "", "", none), diffedit::InputError);
}
