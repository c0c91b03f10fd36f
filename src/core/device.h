// Device names on the command line ("cpu", "cuda", "cuda:1"), shared by inference and training.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace diffedit {

// Parses "cpu|cuda[:N]" and checks that the device can be used here: InputError naming `option`
// for a bad name, a device other than cpu/cuda, or CUDA from a libtorch without it (or no GPU).
c10::Device parse_device(const std::string& name, const std::string& option = "--device");
// The name's checks alone, whatever this machine has (a config validated on a machine without the
// GPU it will run on).
c10::Device parse_device_name(const std::string& name, const std::string& option = "--device");
// The checks of parse_device for a device built in code.
void check_device(c10::Device device, const std::string& option = "--device");

}  // namespace diffedit
