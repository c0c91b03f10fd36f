// Version and git revision of this build (the definitions are generated at build time by
// cmake/WriteVersion.cmake so that every recorded result names the code that produced it).
#pragma once

#include <string_view>

namespace diffedit {
std::string_view version();
std::string_view git_revision();  // short hash, "-dirty" when the tree had changes, or "unknown"
}  // namespace diffedit
