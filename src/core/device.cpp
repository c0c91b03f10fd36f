#include "core/device.h"

#include <torch/cuda.h>

#include "core/errors.h"

namespace diffedit {

c10::Device parse_device_name(const std::string& name, const std::string& option) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const c10::Error&) {
    throw InputError(option, "'" + name + "' is not a device (cpu, cuda, cuda:N)");
  }
  if (!device.is_cpu() && !device.is_cuda()) throw InputError(option, "only cpu and cuda are supported");
  return device;
}

c10::Device parse_device(const std::string& name, const std::string& option) {
  const c10::Device device = parse_device_name(name, option);
  check_device(device, option);
  return device;
}

void check_device(c10::Device device, const std::string& option) {
  if (!device.is_cpu() && !device.is_cuda()) throw InputError(option, "only cpu and cuda are supported");
  if (device.is_cuda() && !torch::cuda::is_available())
    throw InputError(option, "CUDA requested but not available (this libtorch has no CUDA, or no GPU is visible)");
  if (device.is_cuda() && device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
    throw InputError(option, device.str() + ": only " + std::to_string(torch::cuda::device_count()) + " CUDA device(s) visible");
}

}  // namespace diffedit
