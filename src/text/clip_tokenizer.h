// CLIP's byte-level BPE tokenizer (Radford et al. 2021), behaving as transformers' CLIPTokenizer
// (the class named by Stable Diffusion checkpoints) with ftfy installed. Reads the checkpoint's
// `tokenizer/vocab.json`, `merges.txt` and `special_tokens_map.json` / `tokenizer_config.json`.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace diffedit::text {

struct Encoding {
  std::vector<std::int64_t> ids;             // [BOS] + content (<= max_length - 2) + [EOS] + padding
  std::vector<std::int64_t> attention_mask;  // 1 over BOS, content and EOS
};

class CLIPTokenizer {
 public:
  // `tokenizer_dir` holds the config files; vocab.json and merges.txt are read from it, or from
  // `vocab_dir` when given (e.g. an SD2 tokenizer folder that shares SD1's vocabulary files).
  static CLIPTokenizer load(const std::filesystem::path& tokenizer_dir,
                            const std::optional<std::filesystem::path>& vocab_dir = std::nullopt);

  // The BPE token strings of a text (before truncation, without BOS/EOS).
  std::vector<std::string> tokenize(const std::string& text) const;
  // Ids of a text: [BOS] + content truncated to max_length - 2 + [EOS], padded to max_length.
  Encoding encode(const std::string& text) const;
  // [B, max_length] int64 ids for a batch.
  at::Tensor encode_batch(const std::vector<std::string>& texts) const;
  // [BOS] + content + [EOS], neither truncated nor padded: what transformers' tokenizer gives one
  // text without truncation (torchmetrics' CLIPScore then slices it to the first 77 ids).
  std::vector<std::int64_t> encode_untruncated(const std::string& text) const;

  std::int64_t bos_id() const { return bos_id_; }
  std::int64_t eos_id() const { return eos_id_; }
  std::int64_t pad_id() const { return pad_id_; }
  std::int64_t max_length() const { return max_length_; }
  std::int64_t vocab_size() const { return static_cast<std::int64_t>(vocab_.size()); }

  // transformers >= 4.34 registers a pad token that is not BOS/EOS (SD2's "!") as an added token,
  // so a literal "!" in a prompt becomes the pad id. This is the default here (what current
  // diffusers users get); false gives the older behaviour (BPE tokens for "!").
  void set_split_pad_token(bool split) { split_pad_token_ = split; }

 private:
  std::vector<std::string> bpe(const std::string& symbols) const;
  std::vector<std::int64_t> content_ids(const std::string& text) const;

  std::unordered_map<std::string, std::int64_t> vocab_;
  std::unordered_map<std::string, std::int64_t> merge_ranks_;  // "a b" -> rank
  std::string bos_ = "<|startoftext|>", eos_ = "<|endoftext|>", pad_ = "<|endoftext|>";
  std::int64_t bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, unk_id_ = 0;
  std::int64_t max_length_ = 77;
  bool split_pad_token_ = true;
  std::filesystem::path source_;
};

}  // namespace diffedit::text
