#include "text/prompt_cleaning.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <unordered_map>

namespace diffedit::text {

namespace {

using Text = std::u32string;

Text code_points(const icu::UnicodeString& u) {
  Text out;
  for (int32_t i = 0; i < u.length();) {
    const UChar32 c = u.char32At(i);
    out.push_back(static_cast<char32_t>(c));
    i += U16_LENGTH(c);
  }
  return out;
}

icu::UnicodeString unicode_string(const Text& text) {
  icu::UnicodeString u;
  for (char32_t c : text) u.append(static_cast<UChar32>(c));
  return u;
}

Text decode(std::string_view utf8) {
  return code_points(icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size()))));
}

std::string encode(const Text& text) {
  std::string out;
  unicode_string(text).toUTF8String(out);
  return out;
}

// Windows-1252 bytes 0x80..0x9F (0 = undefined; the "sloppy" codec reads those as Latin-1).
constexpr std::array<char32_t, 32> kCp1252High = {0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
                                                  0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
                                                  0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

// The byte a character stands for when UTF-8 was misread as sloppy Windows-1252, or -1.
int sloppy_cp1252_byte(char32_t c) {
  if (c < 0x80 || (c >= 0xA0 && c <= 0xFF)) return static_cast<int>(c);
  if (c >= 0x80 && c <= 0x9F) return kCp1252High[c - 0x80] == 0 ? static_cast<int>(c) : -1;
  for (std::size_t i = 0; i < kCp1252High.size(); ++i)
    if (kCp1252High[i] == c) return static_cast<int>(0x80 + i);
  return -1;
}

// Replaces every run "lead + continuations" whose sloppy-1252 bytes form one valid UTF-8 sequence.
Text fix_mojibake(const Text& t) {
  Text out;
  for (std::size_t i = 0; i < t.size();) {
    const int lead = sloppy_cp1252_byte(t[i]);
    const std::size_t n = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
    if (n > 0 && i + n <= t.size()) {
      char32_t cp = static_cast<char32_t>(lead) & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
      bool ok = true;
      for (std::size_t k = 1; k < n && ok; ++k) {
        const int b = sloppy_cp1252_byte(t[i + k]);
        ok = b >= 0x80 && b <= 0xBF;
        cp = (cp << 6) | static_cast<char32_t>(b & 0x3F);
      }
      const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
      if (ok && !overlong && !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF) {
        out.push_back(cp);
        i += n;
        continue;
      }
    }
    out.push_back(t[i++]);
  }
  return out;
}

Text fix_c1_controls(Text t) {
  for (auto& c : t)
    if (c >= 0x80 && c <= 0x9F && kCp1252High[c - 0x80] != 0) c = kCp1252High[c - 0x80];
  return t;
}

// ESC [ digits/semicolons letter
Text remove_terminal_escapes(const Text& t) {
  Text out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == 0x1B && i + 1 < t.size() && t[i + 1] == U'[') {
      std::size_t j = i + 2;
      while (j < t.size() && ((t[j] >= U'0' && t[j] <= U'9') || t[j] == U';')) ++j;
      if (j < t.size() && ((t[j] >= U'a' && t[j] <= U'z') || (t[j] >= U'A' && t[j] <= U'Z'))) {
        i = j;
        continue;
      }
    }
    out.push_back(t[i]);
  }
  return out;
}

// HTML entities most likely in prompts: the XML five, Latin-1 and typographic names.
const std::unordered_map<std::u32string, Text>& html_entities() {
  static const std::unordered_map<std::u32string, Text> table = [] {
    const std::pair<const char*, char32_t> named[] = {
        {"amp", '&'},      {"lt", '<'},        {"gt", '>'},        {"quot", '"'},      {"apos", '\''},     {"nbsp", 0xA0},
        {"iexcl", 0xA1},   {"cent", 0xA2},     {"pound", 0xA3},    {"curren", 0xA4},   {"yen", 0xA5},      {"brvbar", 0xA6},
        {"sect", 0xA7},    {"uml", 0xA8},      {"copy", 0xA9},     {"ordf", 0xAA},     {"laquo", 0xAB},    {"not", 0xAC},
        {"shy", 0xAD},     {"reg", 0xAE},      {"macr", 0xAF},     {"deg", 0xB0},      {"plusmn", 0xB1},   {"sup2", 0xB2},
        {"sup3", 0xB3},    {"acute", 0xB4},    {"micro", 0xB5},    {"para", 0xB6},     {"middot", 0xB7},   {"cedil", 0xB8},
        {"sup1", 0xB9},    {"ordm", 0xBA},     {"raquo", 0xBB},    {"frac14", 0xBC},   {"frac12", 0xBD},   {"frac34", 0xBE},
        {"iquest", 0xBF},  {"times", 0xD7},    {"divide", 0xF7},   {"Agrave", 0xC0},   {"Aacute", 0xC1},   {"Acirc", 0xC2},
        {"Atilde", 0xC3},  {"Auml", 0xC4},     {"Aring", 0xC5},    {"AElig", 0xC6},    {"Ccedil", 0xC7},   {"Egrave", 0xC8},
        {"Eacute", 0xC9},  {"Ecirc", 0xCA},    {"Euml", 0xCB},     {"Igrave", 0xCC},   {"Iacute", 0xCD},   {"Icirc", 0xCE},
        {"Iuml", 0xCF},    {"ETH", 0xD0},      {"Ntilde", 0xD1},   {"Ograve", 0xD2},   {"Oacute", 0xD3},   {"Ocirc", 0xD4},
        {"Otilde", 0xD5},  {"Ouml", 0xD6},     {"Oslash", 0xD8},   {"Ugrave", 0xD9},   {"Uacute", 0xDA},   {"Ucirc", 0xDB},
        {"Uuml", 0xDC},    {"Yacute", 0xDD},   {"THORN", 0xDE},    {"szlig", 0xDF},    {"agrave", 0xE0},   {"aacute", 0xE1},
        {"acirc", 0xE2},   {"atilde", 0xE3},   {"auml", 0xE4},     {"aring", 0xE5},    {"aelig", 0xE6},    {"ccedil", 0xE7},
        {"egrave", 0xE8},  {"eacute", 0xE9},   {"ecirc", 0xEA},    {"euml", 0xEB},     {"igrave", 0xEC},   {"iacute", 0xED},
        {"icirc", 0xEE},   {"iuml", 0xEF},     {"eth", 0xF0},      {"ntilde", 0xF1},   {"ograve", 0xF2},   {"oacute", 0xF3},
        {"ocirc", 0xF4},   {"otilde", 0xF5},   {"ouml", 0xF6},     {"oslash", 0xF8},   {"ugrave", 0xF9},   {"uacute", 0xFA},
        {"ucirc", 0xFB},   {"uuml", 0xFC},     {"yacute", 0xFD},   {"thorn", 0xFE},    {"yuml", 0xFF},     {"ndash", 0x2013},
        {"mdash", 0x2014}, {"lsquo", 0x2018},  {"rsquo", 0x2019},  {"sbquo", 0x201A},  {"ldquo", 0x201C},  {"rdquo", 0x201D},
        {"bdquo", 0x201E}, {"dagger", 0x2020}, {"Dagger", 0x2021}, {"bull", 0x2022},   {"hellip", 0x2026}, {"permil", 0x2030},
        {"prime", 0x2032}, {"Prime", 0x2033},  {"lsaquo", 0x2039}, {"rsaquo", 0x203A}, {"euro", 0x20AC},   {"trade", 0x2122},
        {"larr", 0x2190},  {"rarr", 0x2192},   {"uarr", 0x2191},   {"darr", 0x2193},   {"hearts", 0x2665}, {"infin", 0x221E},
        {"ne", 0x2260},    {"le", 0x2264},     {"ge", 0x2265}};
    std::unordered_map<std::u32string, Text> t;
    for (const auto& [name, cp] : named) {
      Text key;
      for (const char* p = name; *p; ++p) key.push_back(static_cast<char32_t>(*p));
      t[key] = Text(1, cp);
    }
    return t;
  }();
  return table;
}

bool is_alnum_ascii(char32_t c) { return (c >= U'0' && c <= U'9') || (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z'); }

// ftfy's HTML_ENTITY_RE "&#?[0-9A-Za-z]{1,24};" with its fix-up: known names and valid numeric
// references are decoded; anything else is left as written.
Text unescape_html(const Text& t) {
  Text out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == U'&') {
      std::size_t j = i + 1;
      const bool numeric = j < t.size() && t[j] == U'#';
      if (numeric) ++j;
      const std::size_t start = j;
      while (j < t.size() && j - start < 24 && is_alnum_ascii(t[j])) ++j;
      if (j > start && j < t.size() && t[j] == U';') {
        const Text body = t.substr(start, j - start);
        if (numeric) {
          const bool hex = body[0] == U'x' || body[0] == U'X';
          std::string digits;
          bool valid = true;
          for (std::size_t k = hex ? 1 : 0; k < body.size(); ++k) {
            const char32_t c = body[k];
            valid = valid && (hex ? std::isxdigit(static_cast<int>(c)) : (c >= U'0' && c <= U'9'));
            digits.push_back(static_cast<char>(c));
          }
          if (valid && !digits.empty() && digits.size() <= 8) {
            const unsigned long cp = std::stoul(digits, nullptr, hex ? 16 : 10);
            if (cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF)) {
              // Like html.unescape: references into 0x80..0x9F mean Windows-1252.
              char32_t c = static_cast<char32_t>(cp);
              if (c >= 0x80 && c <= 0x9F && kCp1252High[c - 0x80] != 0) c = kCp1252High[c - 0x80];
              out.push_back(c);
              i = j;
              continue;
            }
          }
        } else if (const auto it = html_entities().find(body); it != html_entities().end()) {
          out += it->second;
          i = j;
          continue;
        }
      }
    }
    out.push_back(t[i]);
  }
  return out;
}

Text fix_latin_ligatures(const Text& t) {
  static const std::unordered_map<char32_t, Text> table = {
      {0x0132, U"IJ"},      {0x0133, U"ij"},      {0x0149, U"\u02BCn"}, {0x01F1, U"DZ"}, {0x01F2, U"Dz"}, {0x01F3, U"dz"},
      {0x01C4, U"D\u017D"}, {0x01C5, U"D\u017E"}, {0x01C6, U"d\u017E"}, {0x01C7, U"LJ"}, {0x01C8, U"Lj"}, {0x01C9, U"lj"},
      {0x01CA, U"NJ"},      {0x01CB, U"Nj"},      {0x01CC, U"nj"},      {0xFB00, U"ff"}, {0xFB01, U"fi"}, {0xFB02, U"fl"},
      {0xFB03, U"ffi"},     {0xFB04, U"ffl"},     {0xFB05, U"\u017Ft"}, {0xFB06, U"st"}};
  Text out;
  for (char32_t c : t) {
    const auto it = table.find(c);
    if (it == table.end())
      out.push_back(c);
    else
      out += it->second;
  }
  return out;
}

// Full-width and half-width compatibility forms -> their NFKC equivalent; ideographic space -> ' '.
Text fix_character_width(const Text& t) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(status);
  Text out;
  for (char32_t c : t) {
    if (c == 0x3000) {
      out.push_back(U' ');
    } else if (c >= 0xFF01 && c <= 0xFFEE && U_SUCCESS(status)) {
      icu::UnicodeString s(static_cast<UChar32>(c));
      UErrorCode st = U_ZERO_ERROR;
      const icu::UnicodeString n = nfkc->normalize(s, st);
      if (U_SUCCESS(st) && n.countChar32() == 1)
        out.push_back(static_cast<char32_t>(n.char32At(0)));
      else
        out.push_back(c);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Text uncurl_quotes(Text t) {
  for (auto& c : t) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B))
      c = U'\'';
    else if (c >= 0x201C && c <= 0x201F)
      c = U'"';
  }
  return t;
}

Text fix_line_breaks(const Text& t) {
  Text out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char32_t c = t[i];
    if (c == U'\r') {
      out.push_back(U'\n');
      if (i + 1 < t.size() && t[i + 1] == U'\n') ++i;
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      out.push_back(U'\n');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool is_removed_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF ||
         (c >= 0xFFF9 && c <= 0xFFFC);
}

Text nfc(const Text& t) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw std::runtime_error("ICU NFC normalizer unavailable");
  const icu::UnicodeString result = n->normalize(unicode_string(t), status);
  if (U_FAILURE(status)) throw std::runtime_error("ICU NFC normalization failed");
  return code_points(result);
}

// Python's str.isspace() set, which is what `\s` and `str.strip()` use.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace

std::string fix_text(std::string_view utf8) {
  Text text = decode(utf8);
  const bool unescape = std::find(text.begin(), text.end(), U'<') == text.end();
  for (int round = 0; round < 16; ++round) {  // ftfy repeats its steps until nothing changes
    const Text before = text;
    text = remove_terminal_escapes(text);
    text = fix_mojibake(text);
    text = fix_c1_controls(std::move(text));
    if (unescape) text = unescape_html(text);
    text = fix_latin_ligatures(text);
    text = fix_character_width(text);
    text = uncurl_quotes(std::move(text));
    text = fix_line_breaks(text);
    text.erase(std::remove_if(text.begin(), text.end(), is_removed_control), text.end());  // C++17: see src/CMakeLists.txt
    text = nfc(text);
    if (text == before) break;
  }
  return encode(text);
}

std::string collapse_whitespace(std::string_view utf8) {
  const Text t = decode(utf8);
  Text out;
  bool in_space = false;
  for (char32_t c : t) {
    if (is_python_space(c)) {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out.push_back(U' ');
    in_space = false;
    out.push_back(c);
  }
  return encode(out);
}

std::string to_lower(std::string_view utf8) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  u.toLower(icu::Locale::getRoot());
  std::string out;
  u.toUTF8String(out);
  return out;
}

std::string clip_clean(std::string_view utf8) { return to_lower(collapse_whitespace(fix_text(utf8))); }

}  // namespace diffedit::text
