#include "editing/diffedit_stages.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <tuple>

#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/inversion.h"

namespace diffedit::editing {

bool FamilySetting::in_family(const std::string& method) {
  return method == "diffedit" || method == "diffedit_oracle_mask" || method == "encode_decode" || method == "mask_no_encoding";
}

FamilySetting FamilySetting::from(const std::string& method, const config::Json& parameters) {
  if (!in_family(method)) throw ConfigError(method, "is not a DiffEdit-family method");
  FamilySetting s;
  s.options = diffedit_options(parameters);
  s.mask = method == "encode_decode" ? Mask::none : method == "diffedit_oracle_mask" ? Mask::given : Mask::inferred;
  s.encoding = method == "mask_no_encoding" ? Encoding::noised : Encoding::ddim;
  s.reference_text = uses_reference_text(parameters);
  if (s.options.decode_negative == DecodeNegative::null_text) {
    // Null-text's embeddings make the guided decoding retrace a DDIM inversion taken at guidance 1.
    if (s.encoding != Encoding::ddim)
      throw ConfigError("decode_negative", "null_text needs DiffEdit's DDIM encoding to optimise along; " + method +
                                               " noises the input instead (use empty or reference)");
    const InversionOptions io = s.options.inversion_stage();
    if (io.with_reference && io.guidance > 1.0) {
      std::ostringstream g;
      g << io.guidance;
      throw ConfigError("decode_negative",
                        "null_text needs the DDIM inversion at guidance 1 (the paper's unconditional encoding, "
                        "encode_with_reference false); this one is guided by R at " +
                            g.str());
    }
  }
  return s;
}

namespace {
std::string reference_name(bool reference_text) { return reference_text ? "dataset" : "none"; }
}  // namespace

std::string mask_stage_key(const FamilySetting& s) {
  if (s.mask != FamilySetting::Mask::inferred) return "";
  return "mask " + structs::struct_key(s.options.mask_stage()) + " reference=" + reference_name(s.reference_text);
}

std::string inversion_stage_key(const FamilySetting& s) {
  if (s.encoding != FamilySetting::Encoding::ddim) return "";
  const InversionOptions o = s.options.inversion_stage();
  std::string key = "inversion " + structs::struct_key(o);
  if (o.with_reference) key += " reference=" + reference_name(s.reference_text);  // the unconditional model reads no R
  // A sampled latent is drawn after the mask's draws on the mask's stream, or first on a fresh one.
  if (o.sample_posterior) {
    const std::string after = mask_stage_key(s);
    key += " after=" + (after.empty() ? std::string("fresh") : "(" + after + ")");
  }
  return key;
}

namespace {
// What the null-text stage reads besides the inversion and the texts.
struct NullTextStage {
  std::int64_t steps = 50;  // the schedule
  std::int64_t depth = 0;   // K: the decoding's steps (the last K of the schedule)
  double guidance = 7.5;
  std::int64_t inner_steps = 10;
  double early_stop_epsilon = 1e-5;

  auto fields() const {
    using structs::field;
    return std::tuple{field("steps", steps), field("depth", depth), field("guidance", guidance), field("inner_steps", inner_steps),
                      field("early_stop_epsilon", early_stop_epsilon)};
  }
};

NullTextStage null_text_stage(const DiffEditOptions& o) {
  return {.steps = o.steps,
          .depth = diffusion::truncated_steps(o.steps, o.strength),
          .guidance = o.guidance,
          .inner_steps = o.null_text_inner_steps,
          .early_stop_epsilon = o.null_text_early_stop_epsilon};
}
}  // namespace

bool optimises_null_text(const FamilySetting& s) {
  const DiffEditOptions& o = s.options;
  return o.decode_negative == DecodeNegative::null_text && s.encoding == FamilySetting::Encoding::ddim && o.guidance > 1.0 &&
         o.null_text_inner_steps > 0 && diffusion::truncated_steps(o.steps, o.strength) > 0;
}

std::string null_text_stage_key(const FamilySetting& s) {
  if (!optimises_null_text(s)) return "";
  // The optimisation conditions on R: its text matters whatever the inversion reads.
  return "null_text " + structs::struct_key(null_text_stage(s.options)) + " reference=" + reference_name(s.reference_text) + " along=(" +
         inversion_stage_key(s) + ")";
}

struct DiffEditStages::MaskEntry {
  std::string key;  // mask_stage_key
  MaskEstimate estimate;
  NoiseSource* noise = nullptr;  // the stream, after the mask's draws
  at::Tensor x0;                 // the input's latent, drawn after them when sampled (lazily)
  at::Tensor eps;                // the noising draw after that (mask_no_encoding, lazily)
  std::int64_t evaluations = 0;
};

struct DiffEditStages::InversionEntry {
  std::string key;  // inversion_stage_key
  Inversion inversion;
  std::int64_t evaluations = 0, steps = 0;
};

struct DiffEditStages::NullTextEntry {
  std::string key;  // null_text_stage_key
  NullTextEmbeddings embeddings;
  std::int64_t evaluations = 0;
};

DiffEditStages::DiffEditStages(pipelines::StableDiffusion& sd, const EditRequest& request, std::function<NoiseSource&()> fresh_noise)
    : sd_(sd), request_(request), fresh_noise_(std::move(fresh_noise)) {}

DiffEditStages::~DiffEditStages() = default;

const DiffEditTexts& DiffEditStages::texts(bool reference_text) {
  auto it = texts_.find(reference_text);
  if (it == texts_.end())
    it = texts_.emplace(reference_text, encode_texts(sd_, request_.query, reference_text ? request_.reference : std::string())).first;
  return it->second;
}

void DiffEditStages::plan(const FamilySetting& s) {
  const std::string key = inversion_stage_key(s);
  if (key.empty()) return;
  double& depth = depth_[key];
  depth = std::max(depth, s.options.strength);
}

DiffEditStages::MaskEntry& DiffEditStages::mask(const FamilySetting& s) {
  const std::string key = mask_stage_key(s);
  auto& entry = masks_[key];
  if (!entry) {
    const MaskOptions o = s.options.mask_stage();
    entry = std::make_unique<MaskEntry>();
    entry->key = key;
    entry->noise = &fresh_noise_();
    const std::int64_t before = sd_.denoiser.evaluations();
    const at::Tensor x = image_latents(sd_, request_.image, o.sample_posterior, *entry->noise);
    entry->estimate = estimate_mask(sd_.denoiser, sd_.scheduler, x, texts(s.reference_text), o, *entry->noise);
    entry->evaluations = sd_.denoiser.evaluations() - before;
  }
  return *entry;
}

const at::Tensor& DiffEditStages::latent_after(MaskEntry& mask, bool sample) {
  if (!mask.x0.defined()) mask.x0 = image_latents(sd_, request_.image, sample, *mask.noise);
  return mask.x0;
}

DiffEditStages::InversionEntry& DiffEditStages::inversion(const FamilySetting& s, MaskEntry* mask) {
  const std::string key = inversion_stage_key(s);
  const InversionOptions o = s.options.inversion_stage();
  const double depth = std::max(depth_[key], s.options.strength);
  auto& entry = inversions_[key];
  const auto steps_to = [&](double r) { return diffusion::truncated_steps(o.steps, r); };
  if (!entry || entry->steps < steps_to(depth)) {
    // DDIM inversion is deterministic: an inversion found too shallow is redone deeper from the
    // same latent (a setting run without plan()).
    at::Tensor x0;
    if (entry) {
      x0 = entry->inversion.x0;
    } else if (o.sample_posterior && mask) {
      x0 = latent_after(*mask, true);
    } else {
      x0 = image_latents(sd_, request_.image, o.sample_posterior, fresh_noise_());
    }
    entry = std::make_unique<InversionEntry>();
    entry->key = key;
    const std::int64_t before = sd_.denoiser.evaluations();
    entry->inversion = ddim_invert(sd_.denoiser, sd_.scheduler, x0, texts(s.reference_text), o, depth);
    entry->evaluations = sd_.denoiser.evaluations() - before;
    entry->steps = static_cast<std::int64_t>(entry->inversion.latents.size());
  }
  return *entry;
}

DiffEditStages::NullTextEntry& DiffEditStages::null_text(const FamilySetting& s, const Inversion& pivot) {
  const std::string key = null_text_stage_key(s);
  auto& entry = null_texts_[key];
  if (!entry) {
    const NullTextStage o = null_text_stage(s.options);
    const auto timesteps = diffusion::truncated_schedule(sd_.scheduler, o.steps, s.options.strength).denoise;
    const DiffEditTexts& t = texts(s.reference_text);
    entry = std::make_unique<NullTextEntry>();
    entry->key = key;
    const std::int64_t before = sd_.denoiser.evaluations();
    entry->embeddings = null_text_optimization(sd_.denoiser, sd_.scheduler, pivot, timesteps, o.steps, t.reference, t.empty, o.guidance,
                                               {.inner_steps = o.inner_steps, .early_stop_epsilon = o.early_stop_epsilon});
    entry->evaluations = sd_.denoiser.evaluations() - before;
  }
  return *entry;
}

struct DiffEditStages::Prepared {
  EditResult result;  // mask, mask_map and the shared stages so far
  at::Tensor mask;
  const Inversion* encoded = nullptr;  // the cached inversion, or `noised`
  Inversion noised;
  const DiffEditTexts* texts = nullptr;
  DiffEditTexts negative_texts;  // decode_negative reference: the setting's texts with R as the negative
  at::Tensor negatives;          // decode_negative null_text: [K, L, D], per decoding step
  DecodeOptions decode;
  std::chrono::steady_clock::time_point start;
};

std::unique_ptr<DiffEditStages::Prepared> DiffEditStages::prepare(const FamilySetting& s) {
  auto p = std::make_unique<Prepared>();
  p->start = std::chrono::steady_clock::now();
  const DiffEditOptions& o = s.options;
  EditResult& r = p->result;

  MaskEntry* inferred = nullptr;
  if (s.mask == FamilySetting::Mask::inferred) {
    inferred = &this->mask(s);
    p->mask = inferred->estimate.binarize(o.threshold);
    r.mask_map = inferred->estimate.map.unsqueeze(1);
    r.shared.push_back({inferred->key, inferred->evaluations});
  } else if (s.mask == FamilySetting::Mask::given) {
    if (!request_.oracle_mask.defined()) throw InputError("oracle_mask", "diffedit_oracle_mask needs a mask");
    // Pixel mask -> latent grid: the fraction of each cell covered, kept where above one half.
    const std::int64_t f = sd_.vae_scale_factor();
    p->mask = (at::avg_pool2d(request_.oracle_mask.to(at::kFloat), {f, f}) > 0.5).to(at::kFloat);
  }

  p->encoded = &p->noised;
  if (s.encoding == FamilySetting::Encoding::ddim) {
    const InversionEntry& e = inversion(s, inferred);
    // Evaluations per inversion step are constant (1 unguided, 2 guided): the cost to this r.
    const std::int64_t needed = diffusion::truncated_steps(o.steps, o.strength);
    r.shared.push_back({e.key, e.steps ? e.evaluations / e.steps * needed : 0});
    p->encoded = &e.inversion;
  } else {
    // x_t ~ q(x_t | x0) at every level of the truncated schedule, from one draw after the mask's.
    if (!inferred) throw ConfigError("mask_no_encoding", "needs an inferred mask");
    Inversion& noised = p->noised;
    noised.x0 = latent_after(*inferred, o.sample_posterior);
    if (!inferred->eps.defined()) inferred->eps = inferred->noise->randn(noised.x0.sizes()).to(noised.x0.device());
    diffusion::DDIMScheduler ddim(sd_.scheduler);
    ddim.set_timesteps(o.steps);
    noised.timesteps = diffusion::truncate_timesteps(ddim.timesteps(), o.strength).invert;
    for (const std::int64_t level : noised.timesteps) noised.latents.push_back(ddim.add_noise(noised.x0, inferred->eps, {level}));
  }
  p->texts = &texts(s.reference_text);
  p->decode = o.decode_stage();
  if (o.decode_negative != DecodeNegative::empty) {
    r.details = {{"decode_negative", config::enum_name(decode_negative_names(), o.decode_negative)}};
    if (o.decode_negative == DecodeNegative::reference) {
      p->negative_texts = *p->texts;
      p->negative_texts.decode_negative = p->negative_texts.reference;
      p->texts = &p->negative_texts;
    } else if (optimises_null_text(s)) {
      const NullTextEntry& e = null_text(s, *p->encoded);
      p->negatives = e.embeddings.embeddings;
      r.shared.push_back({e.key, e.evaluations});
      r.details["null_text_adam_steps"] = e.embeddings.adam_steps;
    }
  }
  return p;
}

EditResult DiffEditStages::finish(Prepared& p, const at::Tensor& decoded, std::int64_t decode_evaluations, double decode_seconds) {
  EditResult r = std::move(p.result);
  const auto start = std::chrono::steady_clock::now();
  r.image = sd_.decode(decoded);
  r.mask = p.mask;
  r.denoiser_evaluations = decode_evaluations;
  for (const auto& st : r.shared) r.denoiser_evaluations += st.evaluations;
  r.seconds = decode_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

EditResult DiffEditStages::run(const FamilySetting& s) {
  const auto p = prepare(s);
  const std::int64_t before = sd_.denoiser.evaluations();
  const at::Tensor decoded =
      masked_decode_batch(sd_.denoiser, sd_.scheduler, {DecodeJob{p->encoded, p->mask, p->decode, p->negatives, p->texts}}, *p->texts)
          .latents.front();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - p->start).count();
  return finish(*p, decoded, sd_.denoiser.evaluations() - before, seconds);
}

void DiffEditStages::run_batched(const std::vector<FamilySetting>& settings, std::int64_t max_batch,
                                 const std::function<void(std::size_t, EditResult&&)>& on_result) {
  std::vector<StagedSetting> staged;
  for (const auto& s : settings) staged.push_back({this, s});
  run_batched(staged, max_batch, on_result);
}

void DiffEditStages::run_batched(const std::vector<StagedSetting>& settings, std::int64_t max_batch,
                                 const std::function<void(std::size_t, EditResult&&)>& on_result) {
  if (max_batch < 1) throw InputError("decode_batch", "must be at least 1");
  for (const auto& s : settings) s.stages->plan(s.setting);
  // Groups of settings whose decodings can share a call: equal steps and guidance (each job
  // brings its own texts).
  std::map<std::tuple<std::int64_t, double>, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    const DecodeOptions d = settings[i].setting.options.decode_stage();
    groups[{d.steps, d.guidance}].push_back(i);
  }
  for (const auto& [key, members] : groups) {
    for (std::size_t from = 0; from < members.size(); from += static_cast<std::size_t>(max_batch)) {
      const std::size_t to = std::min(members.size(), from + static_cast<std::size_t>(max_batch));
      std::vector<std::unique_ptr<Prepared>> prepared;
      std::vector<DecodeJob> jobs;
      double prepare_seconds = 0;
      for (std::size_t m = from; m < to; ++m) {
        const StagedSetting& s = settings[members[m]];
        prepared.push_back(s.stages->prepare(s.setting));
        const Prepared& p = *prepared.back();
        jobs.push_back({p.encoded, p.mask, p.decode, p.negatives, p.texts});
        prepare_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - p.start).count();
      }
      pipelines::StableDiffusion& sd = settings[members[from]].stages->sd_;
      const auto start = std::chrono::steady_clock::now();
      const auto decoded = masked_decode_batch(sd.denoiser, sd.scheduler, jobs, *prepared.front()->texts);
      // The batch's time is shared evenly.
      const double share =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / static_cast<double>(jobs.size());
      for (std::size_t j = 0; j < jobs.size(); ++j) {
        DiffEditStages& stages = *settings[members[from + j]].stages;
        on_result(members[from + j], stages.finish(*prepared[j], decoded.latents[j], decoded.evaluations[j],
                                                   share + prepare_seconds / static_cast<double>(jobs.size())));
      }
    }
  }
}

}  // namespace diffedit::editing
