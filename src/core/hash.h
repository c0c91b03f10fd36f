// SHA-256 (OpenSSL) as lowercase hex: the identity of weights files and image lists in statistics
// files and feature-cache keys — the same digest `sha256sum` prints, so users can check it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace diffedit::hash {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(std::string_view bytes);
  Sha256& update_file(const std::filesystem::path& path);  // FileError when unreadable
  std::string hex();                                       // finishes; the object is then spent

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace diffedit::hash
