// `diffedit inspect FILE.safetensors`: what a checkpoint holds (names, dtypes, shapes, metadata),
// optionally with per-tensor statistics, as a table or as JSON.
#include <ATen/ops/isfinite.h>
#include <fnmatch.h>

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/safetensors.h"

namespace diffedit::cli {

namespace {

struct InspectArgs {
  std::string file;
  std::string match = "*";
  bool json = false;
  bool stats = false;
};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

// min / max / mean / std over the finite values, and the count of non-finite ones.
nlohmann::json tensor_stats(const at::Tensor& stored) {
  nlohmann::json s;
  const at::Tensor t = stored.to(c10::kDouble).flatten();
  const at::Tensor finite_mask = at::isfinite(t);
  const at::Tensor finite = t.masked_select(finite_mask);
  s["non_finite"] = t.numel() - finite.numel();
  if (finite.numel() > 0) {
    s["min"] = finite.min().item<double>();
    s["max"] = finite.max().item<double>();
    s["mean"] = finite.mean().item<double>();
    s["std"] = finite.numel() > 1 ? finite.std().item<double>() : 0.0;
  }
  return s;
}

int run_inspect(const InspectArgs& args) {
  const auto file = safetensors::File::open(args.file);
  std::vector<const safetensors::TensorInfo*> selected;
  for (const auto& t : file.tensors())
    if (::fnmatch(args.match.c_str(), t.name.c_str(), 0) == 0) selected.push_back(&t);

  std::uint64_t elements = 0, bytes = 0;
  for (const auto* t : selected) {
    elements += t->numel();
    bytes += t->nbytes();
  }

  if (args.json) {
    nlohmann::json out;
    out["file"] = args.file;
    out["file_bytes"] = file.file_size();
    out["header_bytes"] = file.header_size();
    out["metadata"] = file.metadata();
    out["tensors"] = nlohmann::json::array();
    for (const auto* t : selected) {
      nlohmann::json entry = {
          {"name", t->name}, {"dtype", safetensors::dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {t->begin, t->end}}};
      if (args.stats) entry["stats"] = tensor_stats(file.tensor(t->name));
      out["tensors"].push_back(std::move(entry));
    }
    out["total_elements"] = elements;
    out["total_bytes"] = bytes;
    std::cout << out.dump(2) << '\n';
    return 0;
  }

  std::cout << "file: " << args.file << " (" << file.file_size() << " bytes, header " << file.header_size() << " bytes)\n";
  if (!file.metadata().empty()) {
    std::cout << "metadata:\n";
    for (const auto& [k, v] : file.metadata()) std::cout << "  " << k << ": " << v << '\n';
  }
  std::size_t width = 4, shape_width = 2;
  for (const auto* t : selected) {
    width = std::max(width, t->name.size());
    shape_width = std::max(shape_width, shape_text(t->shape).size());
  }
  std::cout << "tensors: " << selected.size();
  if (selected.size() != file.tensors().size()) std::cout << " of " << file.tensors().size() << " (match '" << args.match << "')";
  std::cout << ", " << elements << " elements, " << bytes << " bytes\n";
  for (const auto* t : selected) {
    std::cout << "  " << std::left << std::setw(static_cast<int>(width)) << t->name << "  " << std::setw(4)
              << safetensors::dtype_name(t->dtype) << "  " << std::setw(args.stats ? static_cast<int>(shape_width) : 0)
              << shape_text(t->shape);
    if (args.stats) {
      const auto s = tensor_stats(file.tensor(t->name));
      std::cout << std::right << std::setprecision(6);
      if (s.contains("min"))
        std::cout << "  min " << s["min"].get<double>() << "  max " << s["max"].get<double>() << "  mean " << s["mean"].get<double>()
                  << "  std " << s["std"].get<double>();
      if (s["non_finite"].get<std::int64_t>() > 0) std::cout << "  non-finite " << s["non_finite"];
    }
    std::cout << '\n';
  }
  return 0;
}

}  // namespace

Command add_inspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* sub = app.add_subcommand("inspect", "List the tensors and metadata of a .safetensors file");
  sub->add_option("file", args->file, "The .safetensors file")->required();
  sub->add_flag("--json", args->json, "Machine-readable output");
  sub->add_flag("--stats", args->stats, "Also load each tensor and print min/max/mean/std and non-finite count");
  sub->add_option("--match", args->match, "Only tensors whose name matches this glob (e.g. 'down_blocks.0.*')");
  return {sub, [args] { return run_inspect(*args); }};
}

}  // namespace diffedit::cli
