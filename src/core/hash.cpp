#include "core/hash.h"

#include <openssl/evp.h>

#include <array>
#include <fstream>
#include <stdexcept>

#include "core/errors.h"

namespace diffedit::hash {

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  bool done = false;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  if (!state_->ctx || EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) != 1) throw std::runtime_error("OpenSSL: SHA-256 unavailable");
}

Sha256::~Sha256() { EVP_MD_CTX_free(state_->ctx); }

Sha256& Sha256::update(std::string_view bytes) {
  if (state_->done) throw std::logic_error("Sha256: update after hex()");
  EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size());
  return *this;
}

Sha256& Sha256::update_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path.string(), "cannot open for hashing");
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    update({buffer.data(), static_cast<std::size_t>(in.gcount())});
  }
  if (in.bad()) throw FileError(path.string(), "read error while hashing");
  return *this;
}

std::string Sha256::hex() {
  if (state_->done) throw std::logic_error("Sha256: hex() called twice");
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_DigestFinal_ex(state_->ctx, digest.data(), &size);
  state_->done = true;
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 15];
  }
  return out;
}

std::string sha256(std::string_view bytes) { return Sha256().update(bytes).hex(); }
std::string sha256_file(const std::filesystem::path& path) { return Sha256().update_file(path).hex(); }

}  // namespace diffedit::hash
