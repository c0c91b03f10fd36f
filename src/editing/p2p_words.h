// Prompt-to-Prompt's token bookkeeping (Hertz et al. 2022; google/prompt-to-prompt's
// ptp_utils.py and seq_aligner.py): which token positions a word of a prompt occupies, the
// source -> target token maps of a word swap (replace) and of added words (refine), the per-step
// cross-attention replacement weights, the re-weighting vector and LocalBlend's word selection.
// The reference's quirks are kept on purpose (see the comments; the parity test checks each).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace diffedit::text {
class CLIPTokenizer;
}

namespace diffedit::editing::p2p {

inline constexpr std::int64_t kMaxWords = 77;  // the text encoder's sequence length (MAX_NUM_WORDS)

// A prompt as the reference's tokenizer calls see it.
struct PromptTokens {
  std::string text;
  std::vector<std::int64_t> ids;    // tokenizer.encode(text): BOS, content, EOS (no padding)
  std::vector<std::string> pieces;  // tokenizer.decode([id]).strip("#") of each content token
};
PromptTokens tokenize_prompt(const text::CLIPTokenizer& tokenizer, const std::string& text);

// Words as the reference splits prompts: text.split(" ") (empty words kept).
std::vector<std::string> split_words(const std::string& text);

// get_word_inds: 1-based token positions (BOS = 0) of the word at `word_index` of split_words,
// matched by the character lengths of the decoded pieces; of every word equal to `word`.
std::vector<std::int64_t> word_inds(const PromptTokens& prompt, std::int64_t word_index);
std::vector<std::int64_t> word_inds(const PromptTokens& prompt, const std::string& word);

// get_replacement_mapper_: [77, 77] float, source position -> target position. Needs prompts of
// the same number of words (InputError otherwise). A 1 -> n swap spreads 1/n over the n target
// tokens, n -> 1 sums; after the last swapped word the reference writes mapper[j, j] (not
// [i, j]), so later tokens map along the diagonal even when the swap changed the token count.
at::Tensor replacement_mapper(const PromptTokens& source, const PromptTokens& target);

// get_refinement_mapper: a global alignment of the id sequences (Needleman-Wunsch, gap 0,
// match 1, mismatch -1; ties prefer left, then up, then diagonal). `index` [77] int64: for each
// target position the aligned source position, -1 for inserted tokens; positions past the target
// map to themselves. `alphas` [77] float: 0 where index is -1, else 1.
struct Refinement {
  at::Tensor index;
  at::Tensor alphas;
};
Refinement refinement_mapper(const PromptTokens& source, const PromptTokens& target);

// A step window as a fraction of the steps: [start, end).
struct StepWindow {
  double start = 0.0, end = 1.0;
};
// cross_replace_steps: a default window and per-word windows applied after it, in order.
struct CrossReplaceSteps {
  StepWindow default_window{0.0, 0.8};
  std::vector<std::pair<std::string, StepWindow>> words;
};
// get_time_words_attention_alpha for one target prompt: [T + 1, 77] float, row s = 1 where step s
// is inside the window, with bounds int(f * (T + 1)) (T + 1, not T; the last row is never read).
at::Tensor cross_replace_alpha(const PromptTokens& target, std::int64_t num_steps, const CrossReplaceSteps& steps);
// num_self_replace: (int(T * start), int(T * end)) (T, not T + 1).
std::pair<std::int64_t, std::int64_t> self_replace_window(std::int64_t num_steps, const StepWindow& window);

// get_equalizer on the target prompt: [77] float, ones except value i at the tokens of word i.
at::Tensor equalizer(const PromptTokens& target, const std::vector<std::string>& words, const std::vector<double>& values);

// LocalBlend's alpha_layers: [2, 77] float, row 0 = 1 at the source words' tokens, row 1 at the
// target words'.
at::Tensor blend_alpha(const PromptTokens& source, const std::vector<std::string>& source_words, const PromptTokens& target,
                       const std::vector<std::string>& target_words);

// The words that differ between the prompts: position-wise for prompts of equal word counts,
// otherwise the words of each prompt that the other lacks (for LocalBlend's `changed`).
std::pair<std::vector<std::string>, std::vector<std::string>> changed_words(const std::string& source, const std::string& target);

}  // namespace diffedit::editing::p2p
