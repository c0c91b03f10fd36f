#include "editing/masactrl.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "pipelines/pipeline.h"

namespace diffedit::editing::masactrl {

using config::Json;
using config::Schema;

std::vector<Schema::Field> parameter_fields() {
  std::vector<Schema::Field> fields = {
      {"reference_text",
       Schema::string()
           .choices({"dataset", "none"})
           .def("none")
           .doc("the source text S: none (the empty text, as MasaCtrl and PIE-Bench edit real images) or the dataset's R")},
      {"start_step", Schema::integer().range(0, std::nullopt).def(4).doc("the first controlled denoising step (MasaCtrl's STEP)")},
      {"start_layer", Schema::integer()
                          .range(0, std::nullopt)
                          .def(10)
                          .doc("the first controlled transformer block in execution order (MasaCtrl's LAYER; SD 1.x has 16)")},
  };
  return with_inversion_fields(std::move(fields),
                               "reference: DDIM inversion under S (guidance 1; PIE-Bench's ddim+masactrl); direct: S's branch set "
                               "back onto that trajectory after every step (directinversion+masactrl); or another of p2p's");
}

Options options_from(const Json& p) {
  Options o;
  o.branch = branch_options_from(p);
  o.start_step = p.value("start_step", o.start_step);
  o.start_layer = p.value("start_layer", o.start_layer);
  return o;
}

void MutualSelfAttention::on_projections(const models::AttentionSite& site, at::Tensor& /*q*/, at::Tensor& k, at::Tensor& v) {
  if (site.is_cross || step_ < start_step_ || site.index / 2 < start_layer_) return;
  const std::int64_t rows = k.size(0);
  if (rows != (guided_ ? 4 : 2))
    throw std::invalid_argument("MutualSelfAttention: expected the batch [S, Q] or [S, Q, S, Q], got " + std::to_string(rows) + " rows");
  // Each target row reads its own half's source row: MasaCtrl's ku[:heads], kc[:heads].
  const at::Tensor from = guided_ ? at::tensor({0, 0, 2, 2}, at::kLong) : at::tensor({0, 0}, at::kLong);
  k = k.index_select(0, from.to(k.device()));
  v = v.index_select(0, from.to(v.device()));
}

BranchEdit masactrl_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& source, const std::string& query,
                         const Options& o) {
  if (!sd.denoiser.unet()) throw InputError("masactrl", "mutual self-attention needs a UNet denoiser");
  const auto blocks = static_cast<std::int64_t>(sd.denoiser.unet()->attention_sites().size()) / 2;
  if (o.start_layer >= blocks)
    throw InputError("masactrl", "start_layer " + std::to_string(o.start_layer) + " but the UNet has " + std::to_string(blocks) +
                                     " transformer blocks (0-" + std::to_string(blocks - 1) + "): no layer would be controlled");
  return dual_branch_edit(sd, x0, source, query, o.branch, [&](std::int64_t, std::int64_t, std::int64_t) -> std::unique_ptr<BranchControl> {
    return std::make_unique<MutualSelfAttention>(o.start_step, o.start_layer);
  });
}

}  // namespace diffedit::editing::masactrl
