#include "training/train_toy_clip.h"

#include <ATen/ATen.h>
#include <torch/optim.h>

#include <cmath>

#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "image/clip_preprocess.h"
#include "metrics/clip_score.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/state_dict.h"
#include "text/clip_tokenizer.h"
#include "training/checkpoint.h"

namespace diffedit::training {

namespace {
using config::Json;
using config::Schema;
namespace nn = torch::nn;

class ToyClipImpl : public nn::Module {
 public:
  ToyClipImpl(const models::CLIPTextConfig& t, const models::CLIPVisionConfig& v, double logit_scale)
      : text(register_module("text", models::CLIPTextModel(t, true))),
        vision(register_module("vision", models::CLIPVisionModel(v, true))),
        logit_scale(register_parameter("logit_scale", at::full({}, logit_scale))) {}
  models::CLIPTextModel text;
  models::CLIPVisionModel vision;
  at::Tensor logit_scale;
};
TORCH_MODULE(ToyClip);
}  // namespace

const Schema& toy_clip_schema() {
  static const Schema schema = training_schema(
      "toy-clip", {2000, 128, 1e-3, 100, 0.1},
      {
          {"class_prompt", Schema::number().range(0, 1).def(0.2).doc("probability of the class-name text instead of the caption")},
          {"edit_negatives", Schema::number().range(0, 1).def(0.0).doc(
                                 "probability that an item adds its edit's text (one object's colour and/or shape changed) as an "
                                 "extra negative caption: hard negatives that only the changed attribute tells apart")},
          {"projection_dim", Schema::integer().range(1, 4096).def(64)},
          {"logit_scale_init", Schema::number().def(2.6592).doc("log(1/0.07), CLIP's initial temperature")},
          {"tokenizer", Schema::string().required().doc("directory with the CLIP tokenizer files (copied into the model)")},
          {"text_config", Schema::any().required()},
          {"vision_config", Schema::any().required()},
      });
  return schema;
}

TrainSummary train_toy_clip(const Json& c, const std::filesystem::path& out, bool resume, const std::filesystem::path& base,
                            c10::Device device) {
  std::filesystem::create_directories(out);
  auto text_config = models::CLIPTextConfig::from_json(c["text_config"], "config: text_config");
  auto vision_config = models::CLIPVisionConfig::from_json(c["vision_config"], "config: vision_config");
  text_config.projection_dim = vision_config.projection_dim = c["projection_dim"].get<std::int64_t>();
  const auto world = data::toyworld::world_from_json(c["world"], "config: world");
  if (vision_config.image_size != world.image_size)
    throw ConfigError("config: vision_config", "image_size must be the toy world's image size");
  const std::filesystem::path tokenizer_dir = config_path(c, "tokenizer", base);
  const auto tokenizer = text::CLIPTokenizer::load(tokenizer_dir);

  torch::manual_seed(c["seed"].get<std::uint64_t>());
  ToyClip model(text_config, vision_config, c["logit_scale_init"].get<double>());
  {
    torch::NoGradGuard no_grad;  // CLIP's small initialisation for embeddings
    for (auto& p : model->named_parameters(true))
      if (p.key().find("embedding") != std::string::npos) p.value().normal_(0, 0.02);
  }
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(c["lr"].get<double>()).weight_decay(c["weight_decay"].get<double>()));
  TrainingProgress progress = start_or_resume(out, *model, optimizer, resume);
  move_to_device(*model, optimizer, device);
  image::ClipPreprocess norm;
  norm.size = vision_config.image_size;
  const std::int64_t steps = c["steps"], batch = c["batch_size"];
  const std::uint64_t world_seed = c["world_seed"], seed = c["seed"];
  const double class_prompt = c["class_prompt"], edit_negatives = c["edit_negatives"];
  const std::size_t history_start = progress.history.size();
  diffedit::Progress bar("train toy-clip", steps - progress.step);
  model->train();
  for (std::int64_t step = progress.step; step < steps; ++step) {
    auto gen = rng::cpu_generator(rng::derive_seed(seed, "toy-clip/step/" + std::to_string(step)));
    const at::Tensor u = at::rand({batch}, gen, at::kDouble);
    std::vector<at::Tensor> images;
    std::vector<std::string> texts;
    const auto items = data::toyworld::generate_batch("train", step * batch, batch, world_seed, world);
    // Drawn only when used, so runs without edit negatives keep their random streams.
    const at::Tensor v = edit_negatives > 0 ? at::rand({batch}, gen, at::kDouble) : at::ones({batch}, at::kDouble);
    std::vector<std::string> negatives;
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto& item = items[static_cast<std::size_t>(b)];
      images.push_back(item.image);
      const bool as_class = u[b].item<double>() < class_prompt;
      texts.push_back(as_class ? data::toyworld::class_name(item.label) : item.caption);
      if (v[b].item<double>() < edit_negatives) negatives.push_back(as_class ? item.edit.query_class : item.edit.query_caption);
    }
    // Texts 0..batch-1 pair with the images; the negatives only compete in the image->text direction.
    texts.insert(texts.end(), negatives.begin(), negatives.end());
    const auto n_texts = static_cast<std::int64_t>(texts.size());
    set_lr(optimizer, warmup_cosine_lr(c["lr"].get<double>(), c["warmup"].get<std::int64_t>(), step, steps));
    optimizer.zero_grad();
    const at::Tensor img = model->vision->forward(image::clip_normalize(at::stack(images), norm).to(device)).image_embeds;
    const at::Tensor txt = model->text->forward(tokenizer.encode_batch(texts).to(device)).text_embeds;
    const at::Tensor logits = model->logit_scale.clamp_max(std::log(100.0)).exp() * metrics::cosine_matrix(img, txt);
    // Identical texts in a batch are all positives: targets spread over every matching caption
    // (a negative equal to another image's caption is a positive for that image).
    std::vector<float> same(static_cast<std::size_t>(batch * n_texts));
    for (std::int64_t i = 0; i < batch; ++i)
      for (std::int64_t j = 0; j < n_texts; ++j) same[static_cast<std::size_t>(i * n_texts + j)] = texts[i] == texts[j] ? 1.0f : 0.0f;
    const at::Tensor match = at::tensor(same).view({batch, n_texts}).to(device);
    const at::Tensor image_to_text = match / match.sum(1, true);
    const at::Tensor paired = match.narrow(1, 0, batch).t();
    const at::Tensor text_to_image = paired / paired.sum(1, true);
    const at::Tensor loss = 0.5 * (-(image_to_text * logits.log_softmax(1)).sum(1).mean() -
                                   (text_to_image * logits.narrow(1, 0, batch).t().log_softmax(1)).sum(1).mean());
    loss.backward();
    optimizer.step();
    end_step(loss.item<double>(), step, progress, bar, out, *model, optimizer, c);
  }
  bar.finish();
  model->to(c10::kCPU);

  // The shipped layout: Hugging Face's CLIPModel.
  safetensors::TensorMap weights = models::parameter_tensors(*model->text);
  weights.merge(models::parameter_tensors(*model->vision));
  weights["logit_scale"] = model->logit_scale.detach().clone();
  safetensors::write(out / "model.safetensors", weights, {{"format", "pt"}, {"producer", "diffedit train"}});
  Json text_json = c["text_config"], vision_json = c["vision_config"];
  text_json["model_type"] = "clip_text_model";
  vision_json["model_type"] = "clip_vision_model";
  const Json config = {{"architectures", {"CLIPModel"}},
                       {"model_type", "clip"},
                       {"projection_dim", c["projection_dim"]},
                       {"logit_scale_init_value", c["logit_scale_init"]},
                       {"text_config", text_json},
                       {"vision_config", vision_json}};
  fs::write_atomic(out / "config.json", config.dump(2));
  const Json pre = {{"image_mean", norm.mean}, {"image_std", norm.std}, {"crop_size", norm.size},
                    {"size", norm.size},       {"resample", 3},         {"do_normalize", true}};
  fs::write_atomic(out / "preprocessor_config.json", pre.dump(2));
  copy_tokenizer_files(tokenizer_dir, out);
  fs::write_atomic(out / "training.json", Json{{"config", c}, {"steps", progress.step}}.dump(1));
  return summarize(progress.history, history_start, progress.step);
}

}  // namespace diffedit::training
