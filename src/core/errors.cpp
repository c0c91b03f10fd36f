#include "core/errors.h"

#include <cstring>

namespace diffedit {

namespace {
std::string compose(const std::string& source, const std::string& problem) { return source.empty() ? problem : source + ": " + problem; }
}  // namespace

Error::Error(std::string source, std::string problem)
    : std::runtime_error(compose(source, problem)), source_(std::move(source)), problem_(std::move(problem)) {}

std::string errno_message(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace diffedit
