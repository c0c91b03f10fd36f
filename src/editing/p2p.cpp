#include "editing/p2p.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "pipelines/pipeline.h"

namespace diffedit::editing::p2p {

using config::Json;
using config::Schema;

namespace {

// A window: f -> [0, f), [a, b] -> [a, b).
StepWindow window_from(const Json& j, const std::string& key) {
  if (j.is_number()) return {0.0, j.get<double>()};
  if (j.is_array() && j.size() == 2 && j[0].is_number() && j[1].is_number()) return {j[0].get<double>(), j[1].get<double>()};
  throw ConfigError(key, "expected a fraction of the steps f (the window [0, f)) or a pair [start, end], got " + j.dump());
}

Schema window_schema() { return Schema::one_of({Schema::number().range(0, 1), Schema::array(Schema::number().range(0, 1))}); }

}  // namespace

std::vector<Schema::Field> parameter_fields() {
  std::vector<Schema::Field> fields = {
      {"edit", Schema::string()
                   .choices({"auto", "replace", "refine", "reweight", "none"})
                   .def("auto")
                   .doc("replace: word swap; refine: added words; reweight: equalizer only; none: no control; "
                        "auto: replace for prompts of equal word counts, else refine")},
      {"reference_text", Schema::string().choices({"dataset", "none"}).def("dataset").doc("the source prompt: the dataset's R, or empty")},
      {"cross_replace_steps",
       Schema::one_of({window_schema(), Schema::map(window_schema())})
           .def(0.8)
           .doc("f, [start, end] or {\"default_\": f, word: f, ...}: steps (fractions) whose cross-attention is injected")},
      {"self_replace_steps", window_schema().def(0.4).doc("f or [start, end]: steps whose self-attention is injected")},
      {"equalizer_words", Schema::one_of({Schema::array(Schema::string()), Schema::string().choices({"dataset"})})
                              .def(Json::array())
                              .doc("words of Q to re-weight, or \"dataset\": the item's target blend words (PIE-Bench re-weights "
                                   "blended_word[1] by 2)")},
      {"equalizer_values",
       Schema::array(Schema::number()).def(Json::array()).doc("one weight per equalizer word (\"dataset\": one for all)")},
      {"local_blend_words",
       Schema::one_of({Schema::string().choices({"changed", "dataset"}), Schema::array(Schema::array(Schema::string()))})
           .nullable()
           .def(nullptr)
           .doc("LocalBlend: null (off), \"changed\" (the words R and Q differ in), \"dataset\" (the item's own words, "
                "PIE-Bench's blended_word; off for an item without) or [[R words], [Q words]]")},
      {"local_blend_threshold", Schema::number().range(0, 1).def(0.3)},
  };
  return with_inversion_fields(std::move(fields),
                               "reference: DDIM inversion under R (guidance 1); unconditional: by the unconditional model; "
                               "null_text, negative_prompt, direct: PIE-Bench's inversions (from the DDIM inversion under R)");
}

Options options_from(const Json& p) {
  Options o;
  o.branch = branch_options_from(p);
  const std::string edit = p.value("edit", std::string("auto"));
  o.edit = edit == "replace"    ? EditKind::replace
           : edit == "refine"   ? EditKind::refine
           : edit == "reweight" ? EditKind::reweight
           : edit == "none"     ? EditKind::none
                                : EditKind::automatic;
  const Json cross = p.value("cross_replace_steps", Json(0.8));
  if (cross.is_object()) {
    // As the reference: a dict without "default_" injects every word over all steps by default.
    o.cross_replace_steps.default_window =
        cross.contains("default_") ? window_from(cross["default_"], "cross_replace_steps.default_") : StepWindow{0.0, 1.0};
    for (const auto& [word, w] : cross.items())
      if (word != "default_") o.cross_replace_steps.words.push_back({word, window_from(w, "cross_replace_steps." + word)});
  } else {
    o.cross_replace_steps.default_window = window_from(cross, "cross_replace_steps");
  }
  o.self_replace_steps = window_from(p.value("self_replace_steps", Json(0.4)), "self_replace_steps");
  const Json eq_words = p.value("equalizer_words", Json::array());
  o.equalizer_values = p.value("equalizer_values", std::vector<double>{});
  if (eq_words.is_string()) {
    o.equalizer_from_dataset = true;
    if (o.equalizer_values.size() != 1)
      throw ConfigError("equalizer_values", "equalizer_words \"dataset\" takes one value for every word (" +
                                                std::to_string(o.equalizer_values.size()) + " given)");
    if (o.edit == EditKind::none) throw ConfigError("equalizer_words", "edit none applies no control; re-weighting needs another edit");
  } else {
    o.equalizer_words = eq_words.get<std::vector<std::string>>();
  }
  if (!o.equalizer_from_dataset && o.equalizer_words.size() != o.equalizer_values.size())
    throw ConfigError("equalizer_values", "needs one value per equalizer word (" + std::to_string(o.equalizer_words.size()) + " words, " +
                                              std::to_string(o.equalizer_values.size()) + " values)");
  if (o.edit == EditKind::reweight && o.equalizer_words.empty() && !o.equalizer_from_dataset)
    throw ConfigError("equalizer_words", "edit reweight needs at least one word to re-weight");
  if (o.edit == EditKind::none && !o.equalizer_words.empty())
    throw ConfigError("equalizer_words", "edit none applies no control; re-weighting needs another edit");
  const Json blend = p.value("local_blend_words", Json());
  if (blend.is_string()) {
    o.blend = blend.get<std::string>() == "dataset" ? BlendWords::dataset : BlendWords::changed;
  } else if (blend.is_array()) {
    if (blend.size() != 2)
      throw ConfigError("local_blend_words", "expected [[words of R], [words of Q]], got " + std::to_string(blend.size()) + " lists");
    o.blend = BlendWords::given;
    o.blend_source_words = blend[0].get<std::vector<std::string>>();
    o.blend_target_words = blend[1].get<std::vector<std::string>>();
  }
  if (o.blend != BlendWords::off && o.edit == EditKind::none)
    throw ConfigError("local_blend_words", "edit none applies no control; LocalBlend needs another edit");
  o.blend_threshold = p.value("local_blend_threshold", 0.3);
  return o;
}

std::optional<ControllerSpec> controller_spec(const text::CLIPTokenizer& tokenizer, const std::string& source, const std::string& target,
                                              const Options& o, std::int64_t num_steps, std::int64_t latent_h, std::int64_t latent_w) {
  EditKind kind = o.edit;
  if (kind == EditKind::none) return std::nullopt;
  if (kind == EditKind::automatic)
    kind = !source.empty() && split_words(source).size() == split_words(target).size() ? EditKind::replace : EditKind::refine;
  const PromptTokens src = tokenize_prompt(tokenizer, source), tgt = tokenize_prompt(tokenizer, target);
  ControllerSpec spec;
  spec.cross_alpha = cross_replace_alpha(tgt, num_steps, o.cross_replace_steps);
  spec.self_window = self_replace_window(num_steps, o.self_replace_steps);
  spec.geometry = Geometry::for_latent(latent_h, latent_w);
  if (kind == EditKind::replace) {
    spec.edit = CrossEdit::replace;
    spec.mapper = replacement_mapper(src, tgt);
  } else if (kind == EditKind::refine) {
    spec.edit = CrossEdit::refine;
    const Refinement r = refinement_mapper(src, tgt);
    spec.refine_index = r.index;
    spec.refine_alphas = r.alphas;
  } else {
    spec.edit = CrossEdit::reweight;
  }
  if (!o.equalizer_words.empty()) spec.equalizer = equalizer(tgt, o.equalizer_words, o.equalizer_values);
  if (o.blend != BlendWords::off) {
    // given and dataset: the options' words (a dataset's are put there per request by the method).
    auto words =
        o.blend == BlendWords::changed ? changed_words(source, target) : std::make_pair(o.blend_source_words, o.blend_target_words);
    const at::Tensor alpha = blend_alpha(src, words.first, tgt, words.second);
    if (alpha.sum().item<double>() > 0) {
      spec.blend_alpha = alpha;
      spec.blend_threshold = o.blend_threshold;
    } else if (o.blend == BlendWords::given) {
      throw InputError("local_blend_words", "none of the words occurs in '" + source + "' or '" + target + "'");
    }  // changed: identical prompts, nothing to blend; dataset: an item without blend words
  }
  return spec;
}

BranchEdit p2p_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& reference, const std::string& query,
                    const Options& o) {
  return dual_branch_edit(sd, x0, reference, query, o.branch,
                          [&](std::int64_t steps, std::int64_t h, std::int64_t w) -> std::unique_ptr<BranchControl> {
                            const auto spec = controller_spec(sd.tokenizer, reference, query, o, steps, h, w);
                            return spec ? std::make_unique<Controller>(*spec) : nullptr;
                          });
}

}  // namespace diffedit::editing::p2p
