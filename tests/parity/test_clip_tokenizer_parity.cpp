// CLIP tokenizer parity with transformers' CLIPTokenizer + ftfy (fixtures: clip-v1/tokenizer*):
// cleaned text, BPE token strings, SD1 ids and masks, SD2 ids (pad "!"), legacy SD2 ids.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/safetensors.h"
#include "test_support.h"
#include "text/clip_tokenizer.h"
#include "text/prompt_cleaning.h"

namespace text = diffedit::text;
using diffedit::testing::fixture;

namespace {
std::vector<std::int64_t> row(const at::Tensor& t, std::int64_t i) {
  const at::Tensor r = t[i].contiguous();
  return {r.data_ptr<std::int64_t>(), r.data_ptr<std::int64_t>() + r.numel()};
}
}  // namespace

TEST(clip_tokenizer_parity, EveryCase) {
  const auto cases_json = diffedit::config::load_json(fixture("clip-v1/tokenizer_cases.json"));
  const auto ids = diffedit::safetensors::File::open(fixture("clip-v1/tokenizer_cases.safetensors"));
  const auto sd1 = text::CLIPTokenizer::load(fixture("clip-v1/tokenizer"));
  auto sd2 = text::CLIPTokenizer::load(fixture("clip-v1/tokenizer_sd2"), fixture("clip-v1/tokenizer"));
  auto sd2_legacy = sd2;
  sd2_legacy.set_split_pad_token(false);
  EXPECT_EQ(sd1.vocab_size(), 49408);
  EXPECT_EQ(sd1.bos_id(), cases_json["bos_token_id"].get<std::int64_t>());
  EXPECT_EQ(sd1.eos_id(), cases_json["eos_token_id"].get<std::int64_t>());
  EXPECT_EQ(sd1.max_length(), cases_json["max_length"].get<std::int64_t>());
  EXPECT_EQ(sd2.pad_id(), 0);

  const auto& cases = cases_json["cases"];
  ASSERT_EQ(static_cast<std::int64_t>(cases.size()), ids.tensor("sd1_input_ids").size(0));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string input = c["text"];
    SCOPED_TRACE("case " + std::to_string(i) + ": " + input.substr(0, 60));
    const auto k = static_cast<std::int64_t>(i);
    EXPECT_EQ(text::clip_clean(input), c["hf_cleaned_text"].get<std::string>());
    EXPECT_EQ(sd1.tokenize(input), c["bpe_tokens"].get<std::vector<std::string>>());
    const auto e1 = sd1.encode(input);
    EXPECT_EQ(e1.ids, row(ids.tensor("sd1_input_ids"), k));
    EXPECT_EQ(e1.attention_mask, row(ids.tensor("sd1_attention_mask"), k));
    const auto e2 = sd2.encode(input);
    EXPECT_EQ(e2.ids, row(ids.tensor("sd2_input_ids"), k));
    EXPECT_EQ(e2.attention_mask, row(ids.tensor("sd2_attention_mask"), k));
    EXPECT_EQ(sd2_legacy.encode(input).ids, row(ids.tensor("sd2_legacy_input_ids"), k));
  }
  // The batch form stacks the same rows.
  const at::Tensor batch = sd1.encode_batch({cases[0]["text"], cases[3]["text"]});
  EXPECT_TRUE(at::equal(batch[1], ids.tensor("sd1_input_ids")[3]));
}
