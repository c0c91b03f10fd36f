// The registry of editing methods and their parameter schemas (defaults from the paper, see
// docs/paper-protocol.md): DiffEdit and its ablations, SDEdit, ILVR, FlexIT, Prompt-to-Prompt,
// MasaCtrl, Plug-and-Play, and the reference points Copy and Retrieve.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>

#include "core/errors.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "editing/diffedit_stages.h"
#include "editing/flexit.h"
#include "editing/ilvr_resizer.h"
#include "editing/masactrl.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "editing/p2p.h"
#include "editing/pnp.h"
#include "image/io.h"
#include "image/resize.h"
#include "metrics/region.h"

namespace diffedit::editing {

namespace {

using config::Json;
using config::Schema;

Schema common_fields(std::vector<Schema::Field> extra) {
  std::vector<Schema::Field> fields = {
      {"strength", Schema::number().range(0, 1).def(0.5).doc("encoding ratio r / noise level t0")},
      {"steps", Schema::integer().range(1, 1000).def(50)},
      {"guidance", Schema::number().range(0, std::nullopt).def(7.5)},
  };
  for (auto& f : extra) fields.push_back(std::move(f));
  return Schema::object(std::move(fields));
}

Schema diffedit_schema() {
  return common_fields({
      {"mode", Schema::string().choices(config::enum_choices(mode_names())).def("paper")},
      {"reference_text",
       Schema::string().choices({"dataset", "none"}).def("dataset").doc("R: the dataset's reference text, or none (empty)")},
      {"threshold", Schema::number().range(0, 1).def(0.5)},
      {"mask_samples", Schema::integer().range(1, 256).def(10)},
      {"mask_strength", Schema::number().range(0, 1).def(0.5)},
      // Unset (null): the mode's value. Set: overrides it (for ablations).
      {"mask_guidance", Schema::number().nullable().def(nullptr)},
      {"mask_guidance_order", Schema::string().choices(config::enum_choices(guidance_order_names())).nullable().def(nullptr)},
      {"normalization", Schema::string()
                            .choices(config::enum_choices(normalization_names()))
                            .nullable()
                            .def(nullptr)
                            .doc("mask map to [0, 1]; unset: the mode's (paper: quantile_minmax, diffusers_compat: clamp_mean_ratio)")},
      {"clamp_ratio", Schema::number().range(0, std::nullopt).def(3.0)},
      {"quantile", Schema::number().range(0, 1).def(0.99)},
      {"encode_with_reference", Schema::boolean().nullable().def(nullptr)},
      {"sample_posterior", Schema::boolean().nullable().def(nullptr)},
      {"paste", Schema::string().choices(config::enum_choices(paste_names())).nullable().def(nullptr)},
      {"mask_operator", Schema::string()
                            .choices(config::enum_choices(mask_operator_names()))
                            .def("latent")
                            .doc("latent: paste the encoded latents outside the mask (DiffEdit); glide: correct x0_hat outside it (§4.2)")},
      {"decode_negative",
       Schema::string()
           .choices(config::enum_choices(decode_negative_names()))
           .def("empty")
           .doc("the guided decoding's negative: empty (DiffEdit); reference: R (negative-prompt inversion); null_text: per-step "
                "embeddings optimised along the DDIM inversion (null-text inversion; needs the inversion at guidance 1)")},
      {"null_text_inner_steps", Schema::integer().range(0, 1000).def(10).doc("decode_negative null_text: Adam steps per timestep at most")},
      {"null_text_early_stop_epsilon", Schema::number()
                                           .range(0, std::nullopt)
                                           .def(1e-5)
                                           .doc("decode_negative null_text: a timestep's steps stop once the loss < epsilon + i * 2e-5")},
  });
}

// Shared plumbing: texts, latents, timing, counters.
class MethodBase : public EditMethod {
 public:
  MethodBase(std::string name, Json parameters) : name_(std::move(name)), parameters_(std::move(parameters)) {}
  std::string name() const override { return name_; }
  const Json& parameters() const override { return parameters_; }

  EditResult edit(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) override {
    check_request(sd, request);
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t before = sd.denoiser.evaluations();
    torch::NoGradGuard no_grad;
    EditResult r = run(sd, request, noise);
    r.denoiser_evaluations = sd.denoiser.evaluations() - before;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

 protected:
  virtual EditResult run(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) = 0;

  // The reference text R as the method's `reference_text` parameter says: the request's
  // (`dataset`) or the empty text (`none`, the paper's "w/o ref." variant).
  DiffEditTexts texts(pipelines::StableDiffusion& sd, const EditRequest& request) const {
    return encode_texts(sd, request.query, reference_for(parameters(), request.reference));
  }
  static at::Tensor latents(pipelines::StableDiffusion& sd, const EditRequest& request, bool sample, NoiseSource& noise) {
    return image_latents(sd, request.image, sample, noise);
  }

  // SDEdit's skeleton: noise x0 to the first level of the schedule truncated at `strength`, then
  // guided DDIM steps under Q; `after_step(x, t)` may modify the sample after each step (ILVR).
  using StepHook = std::function<at::Tensor(const at::Tensor&, std::int64_t)>;
  static at::Tensor noise_and_denoise(pipelines::StableDiffusion& sd, const DiffEditTexts& t, const at::Tensor& x0, const Json& p,
                                      NoiseSource& noise, const StepHook& after_step = {}) {
    diffusion::DDIMScheduler ddim(sd.scheduler);
    ddim.set_timesteps(p["steps"].get<std::int64_t>());
    const auto ts = diffusion::truncate_timesteps(ddim.timesteps(), p["strength"].get<double>()).denoise;
    if (ts.empty()) return x0;
    at::Tensor x = ddim.add_noise(x0, noise.randn(x0.sizes()).to(x0.device()), {ts.front()});
    for (const std::int64_t step : ts) {
      x = ddim.step(sd.denoiser.guided(x, step, t.query, t.empty, p["guidance"].get<double>()), step, x).prev_sample;
      if (after_step) x = after_step(x, step);
    }
    return x;
  }

 private:
  static void check_request(pipelines::StableDiffusion& sd, const EditRequest& request) {
    const auto& img = request.image;
    if (!img.defined() || img.dim() != 4 || img.size(0) != 1 || img.size(1) != 3)
      throw InputError("image", "expected one RGB image [1, 3, H, W]");
    const std::int64_t multiple = sd.vae_scale_factor() * (std::int64_t{1} << (sd.unet->config().block_out_channels.size() - 1));
    if (img.size(2) % multiple != 0 || img.size(3) % multiple != 0)
      throw InputError("image", "size " + std::to_string(img.size(3)) + "x" + std::to_string(img.size(2)) + " is not a multiple of " +
                                    std::to_string(multiple) + " (VAE factor x UNet downsampling)");
    if (request.query.empty()) throw InputError("query", "the query text is empty");
  }

  std::string name_;
  Json parameters_;
};

// The DiffEdit family (diffedit, diffedit_oracle_mask, encode_decode, mask_no_encoding): one
// setting through the staged implementation that sweeps share (editing/diffedit_stages.h).
class FamilyMethod : public MethodBase {
 public:
  FamilyMethod(std::string name, Json parameters) : MethodBase(std::move(name), std::move(parameters)) {
    FamilySetting::from(this->name(), this->parameters());  // refuses settings that cannot apply (a ConfigError)
  }

 protected:
  EditResult run(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) override {
    DiffEditStages stages(sd, request, [&]() -> NoiseSource& { return noise; });  // alone: every stage on the one stream
    return stages.run(FamilySetting::from(name(), parameters()));
  }
};

// SDEdit (Meng et al., ICLR 2022): noise x0 to level t0 = strength, denoise under Q. `ddim` (eta
// 0, what img2img does) or `ddpm` (ancestral, the original paper's sampler).
class SDEditMethod : public MethodBase {
 public:
  using MethodBase::MethodBase;

 protected:
  EditResult run(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) override {
    const Json& p = parameters();
    const DiffEditTexts t = texts(sd, request);
    const at::Tensor x0 = latents(sd, request, false, noise);
    if (p["sampler"] == "ddim") return {.image = sd.decode(noise_and_denoise(sd, t, x0, p, noise))};
    // Ancestral DDPM over the same truncated schedule.
    diffusion::DDIMScheduler ddim(sd.scheduler);
    ddim.set_timesteps(p["steps"].get<std::int64_t>());
    const auto ts = diffusion::truncate_timesteps(ddim.timesteps(), p["strength"].get<double>()).denoise;
    if (ts.empty()) return {.image = sd.decode(x0)};
    at::Tensor x = ddim.add_noise(x0, noise.randn(x0.sizes()).to(x0.device()), {ts.front()});
    diffusion::DDPMScheduler ddpm(sd.scheduler);
    ddpm.set_timesteps(p["steps"].get<std::int64_t>());
    for (const std::int64_t step : ts) {
      const at::Tensor eps = sd.denoiser.guided(x, step, t.query, t.empty, p["guidance"].get<double>());
      std::optional<at::Tensor> z;
      if (step > 0) z = noise.randn(x.sizes()).to(x.device());
      x = ddpm.step(eps, step, x, z).prev_sample;
    }
    return {.image = sd.decode(x)};
  }
};

// ILVR (Choi et al., ICCV 2021): after each denoising step while the level is above `stop_ratio`,
// replace the sample's low frequencies by those of the reference noised to the step's level:
// x <- x - up(down(x)) + up(down(q_sample(x_ref, t))), with ILVR's MATLAB-style resizer and factor N.
// The paper ran ILVR with a pixel-space ImageNet model; here it runs on the pipeline's model, on
// latents for latent models. N is given in pixels of the input, as in ILVR; the low-pass acts on
// the latent grid with factor N / vae_scale_factor, so N must be a multiple of the VAE's factor
// (N equal to it replaces the whole latent: the output is the input; below it, no latent filter
// exists).
class ILVRMethod : public MethodBase {
 public:
  using MethodBase::MethodBase;

 protected:
  EditResult run(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) override {
    const Json& p = parameters();
    const std::int64_t pixels = p["factor"], scale = sd.vae_scale_factor();
    if (pixels % scale != 0)
      throw InputError("ilvr: factor", std::to_string(pixels) + " pixels is not a multiple of the VAE's scale factor " +
                                           std::to_string(scale) + " (the low-pass acts on the latent grid)");
    const std::int64_t factor = pixels / scale;
    const DiffEditTexts t = texts(sd, request);
    const at::Tensor ref = latents(sd, request, false, noise);
    diffusion::DDIMScheduler ddim(sd.scheduler);
    const auto stop_level =
        static_cast<std::int64_t>(p["stop_ratio"].get<double>() * static_cast<double>(sd.scheduler.num_train_timesteps));
    const at::Tensor x = noise_and_denoise(sd, t, ref, p, noise, [&](const at::Tensor& sample, std::int64_t step) {
      if (step <= stop_level) return sample;
      // As the reference code: the reference is noised to the step's input level.
      const at::Tensor noised = ddim.add_noise(ref, noise.randn(ref.sizes()).to(ref.device()), {step});
      return sample - ilvr_lowpass(sample, factor) + ilvr_lowpass(noised, factor);
    });
    return {.image = sd.decode(x)};
  }
};

// FlexIT (editing/flexit.h) on the pipeline's codec; one setting = one iteration count.
class FlexITMethod : public MethodBase {
 public:
  using MethodBase::MethodBase;

 protected:
  EditResult run(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) override {
    EditResult out;
    run_flexit(sd, request, flexit_options(parameters()), {parameters()["iterations"].get<std::int64_t>()}, noise,
               [&](std::size_t, EditResult&& result) { out = std::move(result); });
    return out;
  }
};

// The edit of a two-branch editor (P2P, MasaCtrl, PnP), with how well its source branch
// reconstructs the input, what the inversions differ in (PnP Inversion's reconstruction), for one
// decoding more.
EditResult branch_result(pipelines::StableDiffusion& sd, const EditRequest& request, BranchEdit out) {
  EditResult r{.image = sd.decode(out.latents), .mask = out.mask};
  r.details = std::move(out.details);
  const at::Tensor reconstruction = sd.decode(out.source).to(request.image.device());
  r.details["reconstruction_psnr"] = metrics::psnr_from_mse(at::mse_loss(reconstruction, request.image).item<double>());
  return r;
}

// Prompt-to-Prompt (editing/p2p.h): invert to r (DDIM under R, or one of PIE-Bench's inversions),
// denoise (R, Q) with cross-attention control.
class P2PMethod : public MethodBase {
 public:
  P2PMethod(std::string name, Json p) : MethodBase(std::move(name), std::move(p)), options_(p2p::options_from(parameters())) {}

 protected:
  EditResult run(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) override {
    const at::Tensor x0 = latents(sd, request, false, noise);
    p2p::Options options = options_;
    if (options.blend == p2p::BlendWords::dataset) {
      options.blend_source_words = request.blend_source_words;
      options.blend_target_words = request.blend_target_words;
    }
    if (options.equalizer_from_dataset) {
      options.equalizer_words = request.blend_target_words;
      options.equalizer_values.assign(request.blend_target_words.size(), options_.equalizer_values.front());
    }
    return branch_result(sd, request, p2p::p2p_edit(sd, x0, reference_for(parameters(), request.reference), request.query, options));
  }

 private:
  p2p::Options options_;
};

// A two-branch editor whose options do not depend on the request: MasaCtrl (editing/masactrl.h:
// invert under S, denoise (S, Q) with mutual self-attention) and Plug-and-Play (editing/pnp.h:
// invert under R, denoise under Q injecting the source's decoder features and self-attention).
template <typename Options, Options (*kParse)(const Json&),
          BranchEdit (*kEdit)(pipelines::StableDiffusion&, const at::Tensor&, const std::string&, const std::string&, const Options&)>
class BranchMethod : public MethodBase {
 public:
  BranchMethod(std::string name, Json p) : MethodBase(std::move(name), std::move(p)), options_(kParse(parameters())) {}

 protected:
  EditResult run(pipelines::StableDiffusion& sd, const EditRequest& request, NoiseSource& noise) override {
    const at::Tensor x0 = latents(sd, request, false, noise);
    return branch_result(sd, request, kEdit(sd, x0, reference_for(parameters(), request.reference), request.query, options_));
  }

 private:
  Options options_;
};
using MasaCtrlMethod = BranchMethod<masactrl::Options, masactrl::options_from, masactrl::masactrl_edit>;
using PnPMethod = BranchMethod<pnp::Options, pnp::options_from, pnp::pnp_edit>;

// Copy: the input itself (the reference point with LPIPS 0).
class CopyMethod : public MethodBase {
 public:
  using MethodBase::MethodBase;

 protected:
  EditResult run(pipelines::StableDiffusion&, const EditRequest& request, NoiseSource&) override {
    return {.image = request.image.clone()};
  }
};

// Retrieve: a real image of the target class, chosen deterministically from the request's seed,
// at the input's size (shorter side resized with antialiased bilinear filtering, centre crop).
// `folder`: <root>/<class folder>/<images>, class folders in sorted order giving the class ids
// (the ImageNet train layout); `toy-world`: the first item of the toy world's split, scanning
// from an index drawn from the seed, whose main object has the target class.
class RetrieveMethod : public MethodBase {
 public:
  using MethodBase::MethodBase;

 protected:
  EditResult run(pipelines::StableDiffusion&, const EditRequest& request, NoiseSource&) override {
    const Json& p = parameters();
    if (request.target_label < 0) throw InputError("retrieve", "the dataset gives no target class for this item");
    at::Tensor image;
    Json details;
    if (p["source"] == "toy-world") {
      const std::uint64_t world_seed = p["world_seed"];
      const auto world = data::toyworld::world_from_json(p["world"], "retrieve: world");
      const std::int64_t start = static_cast<std::int64_t>(request.seed % 1000000);
      for (std::int64_t i = start; i < start + 100000 && !image.defined(); ++i) {
        const data::toyworld::Item item = data::toyworld::generate(p["split"].get<std::string>(), i, world_seed, world);
        if (item.label == request.target_label) {
          image = item.image;
          details = {{"retrieved", p["split"].get<std::string>() + "/" + std::to_string(i)}};
        }
      }
      if (!image.defined()) throw InputError("retrieve", "no toy-world item of class " + std::to_string(request.target_label));
    } else {
      const std::filesystem::path root = p["root"].get<std::string>();
      if (!std::filesystem::is_directory(root)) throw FileError(root.string(), "not a directory (retrieve.root)");
      std::vector<std::filesystem::path> classes;
      for (const auto& e : std::filesystem::directory_iterator(root))
        if (e.is_directory()) classes.push_back(e.path());
      std::sort(classes.begin(), classes.end());
      if (request.target_label >= static_cast<std::int64_t>(classes.size()))
        throw InputError(root.string(), "has " + std::to_string(classes.size()) + " class folders, the target class is " +
                                            std::to_string(request.target_label));
      const auto& folder = classes[static_cast<std::size_t>(request.target_label)];
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(folder))
        if (e.is_regular_file()) files.push_back(e.path());
      if (files.empty()) throw InputError(folder.string(), "no images of the target class");
      std::sort(files.begin(), files.end());
      const auto& file = files[request.seed % files.size()];
      image = image::read(file);
      details = {{"retrieved", std::filesystem::relative(file, root).string()}};
    }
    EditResult r{
        .image = image::torch_resize_cover_crop(image.unsqueeze(0), request.image.size(2), request.image.size(3), image::Filter::bilinear)
                     .contiguous()};
    r.details = details;
    return r;
  }
};

struct Entry {
  const char* name;
  const char* description;
  Schema (*schema)();
  std::unique_ptr<EditMethod> (*make)(Json);
};

const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries = {
      {"diffedit", "DiffEdit: inferred mask, DDIM encoding to r, masked decoding (mode paper | diffusers_compat)", diffedit_schema,
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<FamilyMethod>("diffedit", std::move(p)); }},
      {"diffedit_oracle_mask", "DiffEdit decoding with a given mask (e.g. a dataset's ground truth)", diffedit_schema,
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<FamilyMethod>("diffedit_oracle_mask", std::move(p)); }},
      {"encode_decode", "Ablation: DDIM encode to r and decode under the query, no mask", diffedit_schema,
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<FamilyMethod>("encode_decode", std::move(p)); }},
      {"mask_no_encoding", "Ablation: DiffEdit's mask with noised (not DDIM-encoded) latents", diffedit_schema,
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<FamilyMethod>("mask_no_encoding", std::move(p)); }},
      {"ilvr", "ILVR: denoise under the query, replacing low frequencies by the noised input's (factor N)",
       [] {
         return common_fields(
             {{"factor", Schema::integer().range(1, 512).def(16).doc("downsampling factor N in pixels of the input (ILVR's); "
                                                                     "a multiple of the VAE's scale factor")},
              {"stop_ratio", Schema::number().range(0, 1).def(0.0).doc("no conditioning at or below this level")}});
       },
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<ILVRMethod>("ilvr", std::move(p)); }},
      {"sdedit", "SDEdit: noise to t0 = strength, denoise under the query (sampler ddim | ddpm)",
       [] {
         return common_fields({{"sampler", Schema::string().choices({"ddim", "ddpm"}).def("ddim")}});
       },
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<SDEditMethod>("sdedit", std::move(p)); }},
      {"flexit", "FlexIT: optimise the latent towards a CLIP target point (iterations; FlexIT's defaults)", flexit_schema,
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<FlexITMethod>("flexit", std::move(p)); }},
      {"p2p",
       "Prompt-to-Prompt cross-attention control: encode to r under R, denoise (R, Q) injecting R's attention (edit auto | replace | "
       "refine | reweight; inversion reference | unconditional | null_text | negative_prompt | direct)",
       [] { return common_fields(p2p::parameter_fields()); },
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<P2PMethod>("p2p", std::move(p)); }},
      {"masactrl",
       "MasaCtrl mutual self-attention: invert under S (empty by default), denoise (S, Q) with Q's self-attention reading S's keys "
       "and values from start_step and start_layer on (inversion reference | direct | ...)",
       [] { return common_fields(masactrl::parameter_fields()); },
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<MasaCtrlMethod>("masactrl", std::move(p)); }},
      {"pnp",
       "Plug-and-Play: invert under R, denoise under Q injecting the source's decoder resnet features and self-attention q, k "
       "(inversion reference | direct)",
       [] { return common_fields(pnp::parameter_fields()); },
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<PnPMethod>("pnp", std::move(p)); }},
      {"copy", "Reference point: the input itself", [] { return Schema::object({}); },
       [](Json p) -> std::unique_ptr<EditMethod> { return std::make_unique<CopyMethod>("copy", std::move(p)); }},
      {"retrieve", "Reference point: a real image of the target class (source folder | toy-world)",
       [] {
         return Schema::object({{"source", Schema::string().choices({"folder", "toy-world"}).def("folder")},
                                {"root", Schema::string().nullable().def(nullptr).doc("folder: <root>/<class>/<images>, classes sorted")},
                                {"split", Schema::string().choices({"train", "val", "test"}).def("train").doc("toy-world split")},
                                {"world", data::toyworld::world_schema(data::toyworld::kDefaultPreset)},
                                {"world_seed", Schema::integer().range(0, std::nullopt).def(0)}});
       },
       [](Json p) -> std::unique_ptr<EditMethod> {
         if (p["source"] == "folder" && !p["root"].is_string()) throw ConfigError("root", "retrieve from a folder needs root");
         return std::make_unique<RetrieveMethod>("retrieve", std::move(p));
       }},
  };
  return entries;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> method_catalogue() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : registry()) out.emplace_back(e.name, e.description);
  return out;
}

bool method_has_parameter(const std::string& name, const std::string& key) {
  for (const auto& e : registry())
    if (name == e.name) return e.schema().has_field(key);
  return false;
}

std::unique_ptr<EditMethod> make_method(const std::string& name, const Json& parameters, const std::string& source) {
  for (const auto& e : registry())
    if (name == e.name) return e.make(e.schema().validate(parameters.is_null() ? Json::object() : parameters, source));
  std::vector<std::string> names;
  for (const auto& e : registry()) names.push_back(e.name);
  const auto near = config::near_keys(name, names);
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
  throw ConfigError(
      source, "unknown method '" + name + "'" + (near.empty() ? "" : " (did you mean '" + near.front() + "'?)") + "; methods: " + all);
}

}  // namespace diffedit::editing
