#include "metrics/stats_file.h"

#include <ATen/ATen.h>
#include <hdf5.h>

#include <vector>

#include "core/errors.h"

namespace diffedit::metrics {

namespace {
// Closes an HDF5 handle on scope exit.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

// HDF5 prints its error stack to stderr by default; errors are reported here instead.
struct Quiet {
  H5E_auto2_t func = nullptr;
  void* data = nullptr;
  Quiet() {
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~Quiet() { H5Eset_auto2(H5E_DEFAULT, func, data); }
};

void write_dataset(hid_t file, const char* name, const at::Tensor& t, const std::string& path) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  Handle space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose};
  Handle set{H5Dcreate2(file, name, H5T_IEEE_F64LE, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose};
  if (set.id < 0 || H5Dwrite(set.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr<double>()) < 0)
    throw FileError(path, std::string("cannot write dataset '") + name + "'");
}

void write_string_attribute(hid_t file, const char* name, const std::string& value, const std::string& path) {
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, value.empty() ? 1 : value.size());
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle attr{H5Acreate2(file, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  const std::string stored = value.empty() ? std::string(1, '\0') : value;
  if (attr.id < 0 || H5Awrite(attr.id, type.id, stored.data()) < 0)
    throw FileError(path, std::string("cannot write attribute '") + name + "'");
}

at::Tensor read_dataset(hid_t file, const char* name, const std::string& path) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) throw FormatError(path, std::string("no dataset '") + name + "'");
  Handle set{H5Dopen2(file, name, H5P_DEFAULT), H5Dclose};
  Handle space{H5Dget_space(set.id), H5Sclose};
  const int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank < 1 || rank > 2) throw FormatError(path, std::string("dataset '") + name + "' must have 1 or 2 dimensions");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  at::Tensor t = at::empty(std::vector<std::int64_t>(dims.begin(), dims.end()), at::kDouble);
  if (H5Dread(set.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr<double>()) < 0)
    throw FormatError(path, std::string("cannot read dataset '") + name + "' as float64");
  return t;
}

std::string read_string_attribute(hid_t file, const char* name) {
  if (H5Aexists(file, name) <= 0) return "";
  Handle attr{H5Aopen(file, name, H5P_DEFAULT), H5Aclose};
  Handle type{H5Aget_type(attr.id), H5Tclose};
  if (H5Tget_class(type.id) != H5T_STRING || H5Tis_variable_str(type.id) > 0) return "";
  std::string value(H5Tget_size(type.id), '\0');
  Handle mem{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(mem.id, value.size());
  if (H5Aread(attr.id, mem.id, value.data()) < 0) return "";
  value.resize(value.find('\0') == std::string::npos ? value.size() : value.find('\0'));
  return value;
}
}  // namespace

void write_stats(const std::filesystem::path& path, const StatsFile& f) {
  const Quiet quiet;
  const auto tmp = std::filesystem::path(path.string() + ".tmp");
  {
    Handle file{H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose};
    if (file.id < 0) throw FileError(path.string(), "cannot create the file");
    write_dataset(file.id, "mu", f.stats.mu, path.string());
    write_dataset(file.id, "sigma", f.stats.sigma, path.string());
    Handle space{H5Screate(H5S_SCALAR), H5Sclose};
    Handle n{H5Acreate2(file.id, "n", H5T_STD_I64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    const std::int64_t count = f.stats.n;
    if (n.id < 0 || H5Awrite(n.id, H5T_NATIVE_INT64, &count) < 0) throw FileError(path.string(), "cannot write attribute 'n'");
    write_string_attribute(file.id, "feature_net", f.feature_net, path.string());
    write_string_attribute(file.id, "weights_hash", f.weights_hash, path.string());
    write_string_attribute(file.id, "preprocessing", f.preprocessing, path.string());
    if (f.class_means.defined()) {
      write_dataset(file.id, "class_means", f.class_means, path.string());
      write_dataset(file.id, "class_counts", f.class_counts, path.string());
    }
  }
  std::filesystem::rename(tmp, path);
}

StatsFile read_stats(const std::filesystem::path& path) {
  const Quiet quiet;
  if (!std::filesystem::exists(path)) throw FileError(path.string(), "no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw FormatError(path.string(), "not an HDF5 file");
  Handle file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  if (file.id < 0) throw FormatError(path.string(), "cannot open as HDF5");
  StatsFile f;
  f.stats.mu = read_dataset(file.id, "mu", path.string());
  f.stats.sigma = read_dataset(file.id, "sigma", path.string());
  const auto d = f.stats.mu.size(0);
  if (f.stats.mu.dim() != 1 || f.stats.sigma.dim() != 2 || f.stats.sigma.size(0) != d || f.stats.sigma.size(1) != d)
    throw FormatError(path.string(), "mu must be [d] and sigma [d, d] (got mu " + std::to_string(f.stats.mu.dim()) + "-D, sigma [" +
                                         std::to_string(f.stats.sigma.size(0)) + ", " +
                                         std::to_string(f.stats.sigma.dim() > 1 ? f.stats.sigma.size(1) : 0) + "])");
  if (!at::isfinite(f.stats.mu).all().item<bool>() || !at::isfinite(f.stats.sigma).all().item<bool>())
    throw FormatError(path.string(), "mu or sigma contains NaN or infinite values");
  if (H5Aexists(file.id, "n") > 0) {
    Handle n{H5Aopen(file.id, "n", H5P_DEFAULT), H5Aclose};
    std::int64_t count = 0;
    if (H5Aread(n.id, H5T_NATIVE_INT64, &count) >= 0) f.stats.n = count;
  }
  f.feature_net = read_string_attribute(file.id, "feature_net");
  f.weights_hash = read_string_attribute(file.id, "weights_hash");
  f.preprocessing = read_string_attribute(file.id, "preprocessing");
  if (H5Lexists(file.id, "class_means", H5P_DEFAULT) > 0) {
    f.class_means = read_dataset(file.id, "class_means", path.string());
    f.class_counts = read_dataset(file.id, "class_counts", path.string());
    if (f.class_means.dim() != 2 || f.class_means.size(1) != d || f.class_counts.dim() != 1 ||
        f.class_counts.size(0) != f.class_means.size(0))
      throw FormatError(path.string(), "class_means must be [K, d] and class_counts [K]");
    if (!at::isfinite(f.class_means).all().item<bool>()) throw FormatError(path.string(), "class_means contains NaN or infinite values");
  }
  return f;
}

void set_class_statistics(StatsFile& file, const at::Tensor& features, const at::Tensor& labels, std::int64_t classes) {
  if (features.dim() != 2 || labels.dim() != 1 || labels.size(0) != features.size(0))
    throw InputError("class statistics", "expected features [N, d] and labels [N]");
  if (labels.numel() && (labels.min().item<std::int64_t>() < 0 || labels.max().item<std::int64_t>() >= classes))
    throw InputError("class statistics", "labels must lie in 0.." + std::to_string(classes - 1));
  const at::Tensor l = labels.to(at::kLong);
  const at::Tensor f = features.to(at::kDouble);
  file.class_counts = at::bincount(l, {}, classes).to(at::kDouble);
  file.class_means = at::zeros({classes, f.size(1)}, at::kDouble).index_add_(0, l, f).div_(file.class_counts.clamp_min(1).unsqueeze(1));
}

}  // namespace diffedit::metrics
