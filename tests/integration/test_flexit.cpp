// FlexIT and the reference points Copy and Retrieve on the embedded toy models: the target point
// is FlexIT's formula, zero iterations give the encoded-decoded input, the objective falls, one
// shared run equals the standalone runs bit for bit, Copy is the input (LPIPS 0) and Retrieve
// returns an image of the target class.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/errors.h"
#include "data/toy_datasets.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "editing/diffedit.h"
#include "editing/flexit.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "editing/shared_edits.h"
#include "eval/edit_request.h"
#include "image/io.h"
#include "metrics/perceptual.h"
#include "models/toy_classifier.h"
#include "pipelines/pipeline.h"
#include "test_support.h"

namespace ed = diffedit::editing;
namespace pl = diffedit::pipelines;
using diffedit::config::Json;

namespace {

std::string models(const std::string& name) { return (diffedit::testing::source_dir() / "models" / name).string(); }

Json flexit_parameters(std::int64_t iterations) {
  return {{"iterations", iterations},
          {"clip_models", {models("toy-clip")}},
          {"lpips", {{"name", "toy-classifier"}, {"weights", models("toy-classifier")}}}};
}

// The world of the shipped toy models.
diffedit::data::toyworld::WorldSpec default_world() { return diffedit::data::toyworld::preset(diffedit::data::toyworld::kDefaultPreset); }

ed::EditRequest toy_request(std::int64_t index) {
  const auto dataset = diffedit::data::make_toy_dataset("toy-imagenet", "test", index + 1, 0, {}, default_world());
  return diffedit::eval::request_for(dataset->get(index), 77 + static_cast<std::uint64_t>(index));
}

ed::EditResult edit_alone(pl::StableDiffusion& sd, const std::string& method, const Json& p, const ed::EditRequest& r) {
  ed::SeededNoise noise(r.seed);
  return ed::make_method(method, p, "test")->edit(sd, r, noise);
}

}  // namespace

TEST(FlexIT, ZeroIterationsGiveTheEncodedDecodedInputAndTheObjectiveFalls) {
  auto sd = pl::StableDiffusion::load(models("toy-sd"));
  const auto req = toy_request(0);
  const auto zero = edit_alone(sd, "flexit", flexit_parameters(0), req);
  ed::SeededNoise noise(0);
  const at::Tensor reconstructed = sd.decode(ed::image_latents(sd, req.image, false, noise));
  EXPECT_TRUE(at::equal(zero.image, reconstructed));
  EXPECT_EQ(zero.denoiser_evaluations, 0);

  const auto run = edit_alone(sd, "flexit", flexit_parameters(40), req);
  const Json losses = run.details["loss_per_iteration"];
  ASSERT_EQ(losses.size(), 41u);
  const double first = losses.front(), last = losses.back();
  EXPECT_LT(last, 0.8 * first) << losses.dump();
  EXPECT_LT(run.details["clip_loss"].get<double>(), zero.details["clip_loss"].get<double>());
  EXPECT_GT(run.details["lpips_loss"].get<double>(), 0.0) << "the image moved away from the input";
  EXPECT_FALSE(at::equal(run.image, zero.image));
  EXPECT_EQ(run.image.sizes(), req.image.sizes());
}

TEST(FlexIT, OneSharedRunServesEveryIterationCountBitForBit) {
  auto sd = pl::StableDiffusion::load(models("toy-sd"));
  const auto req = toy_request(1);
  std::vector<ed::Setting> settings;
  for (const std::int64_t k : {0, 3, 8}) settings.push_back({"flexit", flexit_parameters(k)});
  Json other = flexit_parameters(3);
  other["lr"] = 0.1;  // another run
  settings.push_back({"flexit", other});
  std::vector<ed::EditResult> shared(settings.size());
  ed::edit_shared(sd, req, settings, [&](std::size_t i, ed::EditResult&& r) { shared[i] = std::move(r); });
  for (std::size_t i = 0; i < settings.size(); ++i) {
    const auto alone = edit_alone(sd, "flexit", settings[i].parameters, req);
    EXPECT_TRUE(at::equal(shared[i].image, alone.image)) << settings[i].parameters.dump();
    EXPECT_EQ(shared[i].details["loss_per_iteration"], alone.details["loss_per_iteration"]);
  }
  EXPECT_EQ(shared[0].shared.size(), 1u);
  EXPECT_EQ(shared[0].shared[0].key, shared[2].shared[0].key);
  EXPECT_TRUE(shared[3].shared.empty()) << "a run of its own shares nothing";
}

TEST(ReferencePoints, CopyIsTheInputAndRetrieveGivesTheTargetClass) {
  auto sd = pl::StableDiffusion::load(models("toy-sd"));
  auto lpips = diffedit::metrics::PerceptualDistance::load("toy-classifier", models("toy-classifier"));
  auto classifier = diffedit::models::load_toy_classifier(models("toy-classifier"));
  int hits = 0;
  for (std::int64_t i = 0; i < 6; ++i) {
    const auto req = toy_request(i);
    const auto copy = edit_alone(sd, "copy", Json::object(), req);
    EXPECT_TRUE(at::equal(copy.image, req.image));
    EXPECT_EQ(lpips(copy.image, req.image).item<double>(), 0.0);

    const Json p = {{"source", "toy-world"}};
    const auto retrieved = edit_alone(sd, "retrieve", p, req);
    EXPECT_EQ(retrieved.image.sizes(), req.image.sizes());
    EXPECT_EQ(retrieved.details, edit_alone(sd, "retrieve", p, req).details) << "deterministic";
    const std::string where = retrieved.details["retrieved"];
    const auto item = diffedit::data::toyworld::generate("train", std::stoll(where.substr(where.find('/') + 1)), 0, default_world());
    EXPECT_EQ(item.label, req.target_label);
    torch::NoGradGuard no_grad;
    hits += classifier->forward(retrieved.image).argmax(1).item<std::int64_t>() == req.target_label;
  }
  EXPECT_GE(hits, 5) << "retrieved images are recognised as the target class";
}

TEST(ReferencePoints, RetrieveFromAFolderPicksTheTargetClassFolder) {
  diffedit::testing::ScratchDir dir;
  // Three class folders (sorted names give ids 0, 1, 2); class 2 holds one 40x20 image.
  for (const char* c : {"n01", "n02", "n03"}) std::filesystem::create_directories(dir / "train" / c);
  diffedit::image::write(dir / "train" / "n03" / "a.png", at::full({3, 20, 40}, 0.25));
  diffedit::image::write(dir / "train" / "n01" / "b.png", at::full({3, 20, 40}, 0.75));
  auto sd = pl::StableDiffusion::load(models("toy-sd"));
  auto req = toy_request(0);
  req.target_label = 2;
  const auto r = edit_alone(sd, "retrieve", {{"root", (dir / "train").string()}}, req);
  EXPECT_EQ(r.details["retrieved"], "n03/a.png");
  EXPECT_EQ(r.image.sizes(), req.image.sizes());
  EXPECT_NEAR(r.image.mean().item<double>(), 0.25, 2e-3);
  req.target_label = 1;  // an empty class folder
  EXPECT_THROW(edit_alone(sd, "retrieve", {{"root", (dir / "train").string()}}, req), diffedit::InputError);
}
