// Fuzz target: the CLIP BPE tokenizer with the real CLIP vocabulary (the files committed with
// models/toy-sd). Any byte string is a prompt: invalid UTF-8 included. Encodings must always be
// [BOS] + ids + [EOS] + padding, of the tokenizer's fixed length, with ids inside the vocabulary.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "fuzz_check.h"
#include "text/clip_tokenizer.h"

#ifndef DIFFEDIT_SOURCE_DIR
#error "DIFFEDIT_SOURCE_DIR must name the source tree (for models/toy-sd/tokenizer)"
#endif

namespace {
const diffedit::text::CLIPTokenizer& tokenizer() {
  static const auto t = [] {
    const char* dir = std::getenv("DIFFEDIT_FUZZ_TOKENIZER");
    return diffedit::text::CLIPTokenizer::load(dir ? dir : DIFFEDIT_SOURCE_DIR "/models/toy-sd/tokenizer");
  }();
  return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& t = tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto tokens = t.tokenize(text);
    for (const auto& token : tokens) FUZZ_CHECK(!token.empty());
    const auto encoding = t.encode(text);
    FUZZ_CHECK(static_cast<std::int64_t>(encoding.ids.size()) == t.max_length());
    FUZZ_CHECK(encoding.attention_mask.size() == encoding.ids.size());
    FUZZ_CHECK(encoding.ids.front() == t.bos_id());
    std::int64_t content = 0;
    while (content + 1 < t.max_length() && encoding.attention_mask[static_cast<std::size_t>(content + 1)] == 1) ++content;
    FUZZ_CHECK(encoding.ids[static_cast<std::size_t>(content)] == t.eos_id());
    for (const auto id : encoding.ids) FUZZ_CHECK(id >= 0 && id < t.vocab_size());
  } catch (const diffedit::InputError&) {
    // e.g. text that is not UTF-8
  }
  return 0;
}
