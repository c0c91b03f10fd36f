#include "editing/p2p_words.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>

#include "core/errors.h"
#include "text/clip_tokenizer.h"

namespace diffedit::editing::p2p {

namespace {

// The inverse of CLIP's bytes_to_unicode: code point of a BPE symbol -> the byte it stands for.
std::array<int, 512> byte_decoder() {
  std::array<int, 512> table{};
  table.fill(-1);
  std::array<bool, 256> printable{};
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (printable[b])
      table[b] = b;
    else
      table[256 + n++] = b;
  }
  return table;
}

// Code points of a UTF-8 string (an invalid byte counts as one, as Python's errors="replace").
std::vector<std::uint32_t> code_points(const std::string& s) {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + static_cast<std::size_t>(len) <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

std::int64_t length(const std::string& s) { return static_cast<std::int64_t>(code_points(s).size()); }

bool is_space(std::uint32_t c) { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xA0; }

// tokenizer.decode([id]).strip("#") for one BPE token string.
std::string decode_piece(const std::string& token) {
  static const std::array<int, 512> decoder = byte_decoder();
  std::string bytes;
  for (const std::uint32_t cp : code_points(token)) {
    if (cp < decoder.size() && decoder[cp] >= 0) bytes.push_back(static_cast<char>(decoder[cp]));
  }
  // "</w>" -> " ", then strip whitespace and '#'.
  for (std::size_t at = bytes.find("</w>"); at != std::string::npos; at = bytes.find("</w>")) bytes.replace(at, 4, " ");
  const auto strip = [&](auto drop) {
    std::size_t a = 0, b = bytes.size();
    while (a < b && drop(static_cast<unsigned char>(bytes[a]))) ++a;
    while (b > a && drop(static_cast<unsigned char>(bytes[b - 1]))) --b;
    bytes = bytes.substr(a, b - a);
  };
  strip([](unsigned char c) { return is_space(c); });
  strip([](unsigned char c) { return c == '#'; });
  return bytes;
}

std::vector<std::int64_t> inds_of_places(const PromptTokens& prompt, const std::vector<std::int64_t>& places) {
  std::vector<std::int64_t> out;
  if (places.empty()) return out;
  const auto words = split_words(prompt.text);
  std::int64_t cur_len = 0;
  std::size_t ptr = 0;
  for (std::size_t i = 0; i < prompt.pieces.size() && ptr < words.size(); ++i) {
    cur_len += length(prompt.pieces[i]);
    if (std::find(places.begin(), places.end(), static_cast<std::int64_t>(ptr)) != places.end())
      out.push_back(static_cast<std::int64_t>(i) + 1);
    if (cur_len >= length(words[ptr])) {
      ++ptr;
      cur_len = 0;
    }
  }
  return out;
}

void set_columns(at::Tensor row, const std::vector<std::int64_t>& inds, float value) {
  auto a = row.accessor<float, 1>();
  for (const std::int64_t i : inds)
    if (i < kMaxWords) a[i] = value;
}

}  // namespace

PromptTokens tokenize_prompt(const text::CLIPTokenizer& tokenizer, const std::string& text) {
  PromptTokens p;
  p.text = text;
  const auto encoding = tokenizer.encode(text);
  for (std::size_t i = 0; i < encoding.ids.size(); ++i)
    if (encoding.attention_mask[i] != 0) p.ids.push_back(encoding.ids[i]);
  const auto tokens = tokenizer.tokenize(text);
  const std::size_t content = p.ids.size() >= 2 ? p.ids.size() - 2 : 0;
  for (std::size_t i = 0; i < tokens.size() && i < content; ++i) p.pieces.push_back(decode_piece(tokens[i]));
  return p;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::size_t start = 0;
  for (std::size_t at = text.find(' '); at != std::string::npos; at = text.find(' ', start)) {
    words.push_back(text.substr(start, at - start));
    start = at + 1;
  }
  words.push_back(text.substr(start));
  return words;
}

std::vector<std::int64_t> word_inds(const PromptTokens& prompt, std::int64_t word_index) { return inds_of_places(prompt, {word_index}); }

std::vector<std::int64_t> word_inds(const PromptTokens& prompt, const std::string& word) {
  const auto words = split_words(prompt.text);
  std::vector<std::int64_t> places;
  for (std::size_t i = 0; i < words.size(); ++i)
    if (words[i] == word) places.push_back(static_cast<std::int64_t>(i));
  return inds_of_places(prompt, places);
}

at::Tensor replacement_mapper(const PromptTokens& source, const PromptTokens& target) {
  const auto wx = split_words(source.text), wy = split_words(target.text);
  if (wx.size() != wy.size())
    throw InputError("p2p: edit", "a word swap (replace) needs prompts with the same number of words, but '" + source.text + "' has " +
                                      std::to_string(wx.size()) + " and '" + target.text + "' has " + std::to_string(wy.size()));
  std::vector<std::vector<std::int64_t>> src, tgt;
  for (std::size_t i = 0; i < wy.size(); ++i) {
    if (wx[i] == wy[i]) continue;
    src.push_back(word_inds(source, static_cast<std::int64_t>(i)));
    tgt.push_back(word_inds(target, static_cast<std::int64_t>(i)));
    if (src.back().empty() || tgt.back().empty())
      throw InputError("p2p: edit", "the swapped word '" + wx[i] + "' -> '" + wy[i] + "' has no tokens");
  }
  at::Tensor mapper = at::zeros({kMaxWords, kMaxWords}, at::kFloat);
  auto m = mapper.accessor<float, 2>();
  auto put = [&](std::int64_t a, std::int64_t b, double v) {
    if (a < kMaxWords && b < kMaxWords) m[a][b] = static_cast<float>(v);
  };
  std::int64_t i = 0, j = 0;
  std::size_t cur = 0;
  while (i < kMaxWords && j < kMaxWords) {
    if (cur < src.size() && src[cur][0] == i) {
      const auto& s = src[cur];
      const auto& t = tgt[cur];
      if (s.size() == t.size()) {
        for (std::size_t k = 0; k < s.size(); ++k) put(s[k], t[k], 1.0);
      } else {
        const double ratio = 1.0 / static_cast<double>(t.size());
        for (const std::int64_t it : t)
          for (const std::int64_t is : s) put(is, it, ratio);
      }
      ++cur;
      i += static_cast<std::int64_t>(s.size());
      j += static_cast<std::int64_t>(t.size());
    } else if (cur < src.size()) {
      put(i++, j++, 1.0);
    } else {
      put(j, j, 1.0);  // the reference's quirk: [j, j], not [i, j]
      ++i;
      ++j;
    }
  }
  return mapper;
}

Refinement refinement_mapper(const PromptTokens& source, const PromptTokens& target) {
  const auto& x = source.ids;
  const auto& y = target.ids;
  const std::size_t nx = x.size(), ny = y.size();
  const int gap = 0, match = 1, mismatch = -1;
  std::vector<std::vector<int>> score(nx + 1, std::vector<int>(ny + 1, 0)), trace(nx + 1, std::vector<int>(ny + 1, 0));
  for (std::size_t j = 1; j <= ny; ++j) {
    score[0][j] = static_cast<int>(j) * gap;
    trace[0][j] = 1;
  }
  for (std::size_t i = 1; i <= nx; ++i) {
    score[i][0] = static_cast<int>(i) * gap;
    trace[i][0] = 2;
  }
  trace[0][0] = 4;
  for (std::size_t i = 1; i <= nx; ++i)
    for (std::size_t j = 1; j <= ny; ++j) {
      const int left = score[i][j - 1] + gap, up = score[i - 1][j] + gap;
      const int diag = score[i - 1][j - 1] + (x[i - 1] == y[j - 1] ? match : mismatch);
      score[i][j] = std::max({left, up, diag});
      trace[i][j] = score[i][j] == left ? 1 : score[i][j] == up ? 2 : 3;
    }
  // Trace back: one (target position, source position or -1) pair per target token.
  std::vector<std::int64_t> y_to_x;
  std::size_t i = nx, j = ny;
  while (i > 0 || j > 0) {
    const int t = trace[i][j];
    if (t == 3) {
      --i;
      --j;
      y_to_x.push_back(static_cast<std::int64_t>(i));
    } else if (t == 1) {
      --j;
      y_to_x.push_back(-1);
    } else if (t == 2) {
      --i;
    } else {
      break;
    }
  }
  std::reverse(y_to_x.begin(), y_to_x.end());
  Refinement r{at::arange(kMaxWords, at::kLong), at::ones({kMaxWords}, at::kFloat)};
  auto index = r.index.accessor<std::int64_t, 1>();
  auto alphas = r.alphas.accessor<float, 1>();
  for (std::size_t k = 0; k < y_to_x.size() && k < static_cast<std::size_t>(kMaxWords); ++k) {
    index[static_cast<std::int64_t>(k)] = y_to_x[k];
    alphas[static_cast<std::int64_t>(k)] = y_to_x[k] == -1 ? 0.0f : 1.0f;
  }
  return r;
}

at::Tensor cross_replace_alpha(const PromptTokens& target, std::int64_t num_steps, const CrossReplaceSteps& steps) {
  const std::int64_t rows = num_steps + 1;
  at::Tensor alpha = at::zeros({rows, kMaxWords}, at::kFloat);
  auto apply = [&](const StepWindow& w, const std::vector<std::int64_t>* inds) {
    const auto start = std::clamp<std::int64_t>(static_cast<std::int64_t>(w.start * static_cast<double>(rows)), 0, rows);
    const auto end = std::clamp<std::int64_t>(static_cast<std::int64_t>(w.end * static_cast<double>(rows)), 0, rows);
    for (std::int64_t s = 0; s < rows; ++s) {
      const float v = s >= start && s < end ? 1.0f : 0.0f;
      if (inds)
        set_columns(alpha[s], *inds, v);
      else
        alpha[s].fill_(v);
    }
  };
  apply(steps.default_window, nullptr);
  for (const auto& [word, window] : steps.words) {
    const auto inds = word_inds(target, word);
    if (!inds.empty()) apply(window, &inds);
  }
  return alpha;
}

std::pair<std::int64_t, std::int64_t> self_replace_window(std::int64_t num_steps, const StepWindow& window) {
  const auto t = static_cast<double>(num_steps);
  return {static_cast<std::int64_t>(t * window.start), static_cast<std::int64_t>(t * window.end)};
}

at::Tensor equalizer(const PromptTokens& target, const std::vector<std::string>& words, const std::vector<double>& values) {
  at::Tensor eq = at::ones({kMaxWords}, at::kFloat);
  for (std::size_t i = 0; i < words.size(); ++i) set_columns(eq, word_inds(target, words[i]), static_cast<float>(values.at(i)));
  return eq;
}

at::Tensor blend_alpha(const PromptTokens& source, const std::vector<std::string>& source_words, const PromptTokens& target,
                       const std::vector<std::string>& target_words) {
  at::Tensor alpha = at::zeros({2, kMaxWords}, at::kFloat);
  for (const auto& w : source_words) set_columns(alpha[0], word_inds(source, w), 1.0f);
  for (const auto& w : target_words) set_columns(alpha[1], word_inds(target, w), 1.0f);
  return alpha;
}

std::pair<std::vector<std::string>, std::vector<std::string>> changed_words(const std::string& source, const std::string& target) {
  const auto ws = split_words(source), wt = split_words(target);
  std::vector<std::string> a, b;
  auto add = [](std::vector<std::string>& v, const std::string& w) {
    if (!w.empty() && std::find(v.begin(), v.end(), w) == v.end()) v.push_back(w);
  };
  if (ws.size() == wt.size()) {
    for (std::size_t i = 0; i < ws.size(); ++i)
      if (ws[i] != wt[i]) {
        add(a, ws[i]);
        add(b, wt[i]);
      }
  } else {
    for (const auto& w : ws)
      if (std::find(wt.begin(), wt.end(), w) == wt.end()) add(a, w);
    for (const auto& w : wt)
      if (std::find(ws.begin(), ws.end(), w) == ws.end()) add(b, w);
  }
  return {a, b};
}

}  // namespace diffedit::editing::p2p
