#include "text/clip_tokenizer.h"

#include <ATen/ATen.h>
#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "core/config.h"
#include "core/errors.h"
#include "core/fs.h"
#include "text/prompt_cleaning.h"

namespace diffedit::text {

namespace {

// GPT-2's reversible byte -> printable-unicode map: printable Latin-1 bytes map to themselves,
// the rest to U+0100 onwards, in byte order.
const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    std::vector<bool> direct(256, false);
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const UChar32 cp = direct[b] ? b : next++;
      icu::UnicodeString(cp).toUTF8String(t[b]);
    }
    return t;
  }();
  return table;
}

constexpr std::int64_t kMaxMerges = 49152 - 256 - 2;

// transformers' CLIPTokenizer pattern (compiled with IGNORECASE).
constexpr const char* kPattern = R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+)";

std::vector<std::string> regex_split(const std::string& text) {
  UErrorCode status = U_ZERO_ERROR;
  static std::unique_ptr<icu::RegexPattern> pattern(
      icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(kPattern), UREGEX_CASE_INSENSITIVE, status));
  if (U_FAILURE(status) || !pattern) throw std::runtime_error("cannot compile the CLIP tokenizer pattern");
  const icu::UnicodeString input = icu::UnicodeString::fromUTF8(text);
  std::unique_ptr<icu::RegexMatcher> m(pattern->matcher(input, status));
  std::vector<std::string> pieces;
  while (m->find(status) && U_SUCCESS(status)) {
    std::string piece;
    m->group(status).toUTF8String(piece);
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

// Splits on special tokens, left to right: {text, is_special}.
std::vector<std::pair<std::string, bool>> split_special(const std::string& text, const std::vector<std::string>& specials) {
  std::vector<std::pair<std::string, bool>> parts;
  std::size_t pos = 0, start = 0;
  while (pos < text.size()) {
    const std::string* hit = nullptr;
    for (const auto& s : specials)
      if (!s.empty() && text.compare(pos, s.size(), s) == 0 && (!hit || s.size() > hit->size())) hit = &s;
    if (hit) {
      if (pos > start) parts.emplace_back(text.substr(start, pos - start), false);
      parts.emplace_back(*hit, true);
      pos += hit->size();
      start = pos;
    } else {
      ++pos;
    }
  }
  if (start < text.size()) parts.emplace_back(text.substr(start), false);
  return parts;
}

// Splits a UTF-8 string into code points (each as its UTF-8 bytes).
std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string token_content(const config::Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content")) return value["content"].get<std::string>();
  return "";
}

}  // namespace

CLIPTokenizer CLIPTokenizer::load(const std::filesystem::path& dir, const std::optional<std::filesystem::path>& vocab_dir) {
  CLIPTokenizer t;
  t.source_ = dir;
  const auto files = vocab_dir.value_or(dir);

  const auto vocab_path = files / "vocab.json";
  const config::Json vocab = config::load_json(vocab_path);
  if (!vocab.is_object() || vocab.empty()) throw FormatError(vocab_path.string(), "expected a JSON object of token -> id");
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer()) throw FormatError(vocab_path.string(), "id of token '" + token + "' is not an integer");
    t.vocab_[token] = id.get<std::int64_t>();
  }

  const auto merges_path = files / "merges.txt";
  std::istringstream merges(fs::read_file(merges_path));
  std::string line;
  std::int64_t rank = 0, line_no = 0;
  while (std::getline(merges, line)) {
    ++line_no;
    if (line.rfind("#version", 0) == 0 || line.empty()) continue;
    if (rank == kMaxMerges) break;  // transformers reads merges[1 : 49152 - 256 - 2 + 1]
    const auto space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
      throw FormatError(merges_path.string(), "line " + std::to_string(line_no) + " is not a pair 'a b'");
    t.merge_ranks_.emplace(line, rank++);
  }

  // Special tokens: tokenizer_config.json, then special_tokens_map.json overrides.
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const auto path = dir / name;
    if (!std::filesystem::exists(path)) continue;
    const config::Json j = config::load_json(path);
    if (j.contains("bos_token")) t.bos_ = token_content(j["bos_token"]);
    if (j.contains("eos_token")) t.eos_ = token_content(j["eos_token"]);
    if (j.contains("pad_token")) t.pad_ = token_content(j["pad_token"]);
    if (j.contains("model_max_length") && j["model_max_length"].is_number_integer())
      t.max_length_ = std::min<std::int64_t>(j["model_max_length"].get<std::int64_t>(), 77);
  }
  auto id_of = [&](const std::string& token, const char* role) {
    const auto it = t.vocab_.find(token);
    if (it == t.vocab_.end()) throw FormatError(vocab_path.string(), std::string(role) + " token '" + token + "' is not in the vocabulary");
    return it->second;
  };
  t.bos_id_ = id_of(t.bos_, "bos");
  t.eos_id_ = id_of(t.eos_, "eos");
  t.pad_id_ = id_of(t.pad_, "pad");
  t.unk_id_ = t.eos_id_;
  return t;
}

std::vector<std::string> CLIPTokenizer::bpe(const std::string& token) const {
  std::vector<std::string> word = code_points(token);
  if (word.empty()) return {};
  word.back() += "</w>";
  while (word.size() > 1) {
    std::int64_t best = -1;
    std::size_t best_i = 0;
    for (std::size_t i = 0; i + 1 < word.size(); ++i) {
      const auto it = merge_ranks_.find(word[i] + " " + word[i + 1]);
      if (it != merge_ranks_.end() && (best < 0 || it->second < best)) {
        best = it->second;
        best_i = i;
      }
    }
    if (best < 0) break;
    const std::string first = word[best_i], second = word[best_i + 1];
    std::vector<std::string> merged;
    for (std::size_t i = 0; i < word.size();) {  // merge every occurrence, left to right
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  return word;
}

std::vector<std::string> CLIPTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> specials = {bos_, eos_};
  if (split_pad_token_ && pad_ != bos_ && pad_ != eos_) specials.push_back(pad_);
  std::vector<std::string> tokens;
  for (const auto& [piece, special] : split_special(text, specials)) {
    if (special) {
      tokens.push_back(piece);
      continue;
    }
    for (const auto& word : regex_split(clip_clean(piece))) {
      std::string symbols;
      for (unsigned char b : word) symbols += byte_symbols()[b];
      for (auto& t : bpe(symbols)) tokens.push_back(std::move(t));
    }
  }
  return tokens;
}

std::vector<std::int64_t> CLIPTokenizer::content_ids(const std::string& text) const {
  std::vector<std::int64_t> ids;
  for (const auto& token : tokenize(text)) {
    const auto it = vocab_.find(token);
    ids.push_back(it == vocab_.end() ? unk_id_ : it->second);
  }
  return ids;
}

std::vector<std::int64_t> CLIPTokenizer::encode_untruncated(const std::string& text) const {
  std::vector<std::int64_t> ids{bos_id_};
  const std::vector<std::int64_t> content = content_ids(text);
  ids.insert(ids.end(), content.begin(), content.end());
  ids.push_back(eos_id_);
  return ids;
}

Encoding CLIPTokenizer::encode(const std::string& text) const {
  std::vector<std::int64_t> content = content_ids(text);
  const auto room = static_cast<std::size_t>(max_length_ - 2);
  if (content.size() > room) content.resize(room);
  Encoding e;
  e.ids.push_back(bos_id_);
  e.ids.insert(e.ids.end(), content.begin(), content.end());
  e.ids.push_back(eos_id_);
  e.attention_mask.assign(e.ids.size(), 1);
  e.ids.resize(static_cast<std::size_t>(max_length_), pad_id_);
  e.attention_mask.resize(static_cast<std::size_t>(max_length_), 0);
  return e;
}

at::Tensor CLIPTokenizer::encode_batch(const std::vector<std::string>& texts) const {
  at::Tensor out = at::empty({static_cast<std::int64_t>(texts.size()), max_length_}, at::kLong);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const Encoding e = encode(texts[i]);
    std::copy(e.ids.begin(), e.ids.end(), out[static_cast<std::int64_t>(i)].data_ptr<std::int64_t>());
  }
  return out;
}

}  // namespace diffedit::text
