#include "models/state_dict.h"

#include <set>
#include <sstream>

#include "core/errors.h"

namespace diffedit::models {

namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::ostringstream s;
  s << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

std::string listed(const std::vector<std::string>& names, std::size_t limit = 5) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += " (and " + std::to_string(names.size() - limit) + " more)";
  return out;
}

}  // namespace

std::string LoadReport::summary() const {
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back(std::to_string(missing.size()) + " missing: " + listed(missing));
  if (!unexpected.empty()) parts.push_back(std::to_string(unexpected.size()) + " unexpected: " + listed(unexpected));
  if (!mismatched.empty()) parts.push_back(std::to_string(mismatched.size()) + " with a wrong shape: " + listed(mismatched, 3));
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out;
}

LoadReport check_state_dict(const torch::nn::Module& module, const safetensors::File& file, const std::string& prefix) {
  LoadReport report;
  std::set<std::string> in_file;
  for (const auto& t : file.tensors())
    if (t.name.rfind(prefix, 0) == 0) in_file.insert(t.name.substr(prefix.size()));
  std::set<std::string> in_module;
  auto visit = [&](const std::string& name, const at::Tensor& value) {
    in_module.insert(name);
    const auto* info = file.find(prefix + name);
    if (!info) {
      report.missing.push_back(name);
    } else if (at::IntArrayRef(info->shape) != value.sizes()) {
      report.mismatched.push_back(name + ": file " + shape_text(info->shape) + " vs model " + shape_text(value.sizes()));
    }
  };
  for (const auto& p : module.named_parameters(true)) visit(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) visit(b.key(), b.value());
  for (const auto& name : in_file)
    if (!in_module.count(name)) report.unexpected.push_back(name);
  return report;
}

safetensors::TensorMap parameter_tensors(const torch::nn::Module& module) {
  safetensors::TensorMap out;
  for (const auto& p : module.named_parameters(true)) out[p.key()] = p.value().detach().contiguous();
  return out;
}

namespace {
// A name pattern: exact, or with one '*' standing for any run of characters ("lin*", "*num_batches_tracked").
bool matches(const std::string& pattern, const std::string& name) {
  const auto star = pattern.find('*');
  if (star == std::string::npos) return name == pattern;
  const std::string head = pattern.substr(0, star), tail = pattern.substr(star + 1);
  return name.size() >= head.size() + tail.size() && name.starts_with(head) && name.ends_with(tail);
}
bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return matches(p, name); });
}
}  // namespace

void load_state_dict(torch::nn::Module& module, const safetensors::File& file, const std::string& prefix,
                     const std::vector<std::string>& ignore_unexpected, const std::vector<std::string>& ignore_missing) {
  LoadReport report = check_state_dict(module, file, prefix);
  std::erase_if(report.unexpected, [&](const std::string& name) { return matches_any(ignore_unexpected, name); });
  std::erase_if(report.missing, [&](const std::string& name) { return matches_any(ignore_missing, name); });
  if (!report.ok()) {
    for (auto* names : {&report.missing, &report.unexpected, &report.mismatched})
      for (auto& n : *names) n = prefix + n;  // as the file names them
    throw FormatError(file.path().string(), "does not match the model: " + report.summary());
  }
  torch::NoGradGuard no_grad;
  // Tensors allowed to be missing keep their initial values.
  for (auto& p : module.named_parameters(true))
    if (file.contains(prefix + p.key())) p.value().copy_(file.tensor(prefix + p.key()));
  for (auto& b : module.named_buffers(true))
    if (file.contains(prefix + b.key())) b.value().copy_(file.tensor(prefix + b.key()));
}

std::filesystem::path find_weights(const std::filesystem::path& dir, const std::string& stem, const std::optional<std::string>& variant) {
  const std::string name = stem + (variant ? "." + *variant : "") + ".safetensors";
  const auto path = dir / name;
  if (std::filesystem::is_regular_file(path)) return path;
  std::string problem = "no " + name;
  if (std::filesystem::exists(dir / (stem + ".bin")) || std::filesystem::exists(dir / (stem + ".ckpt")))
    problem += " (pickled PyTorch weights are not read; convert them to safetensors with scripts/)";
  if (std::filesystem::exists(dir / (stem + ".safetensors.index.json"))) problem += " (sharded checkpoints are not supported yet)";
  throw FileError(dir.string(), problem);
}

}  // namespace diffedit::models
