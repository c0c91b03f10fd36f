// Text cleaning as CLIP's tokenizer does it: the default `ftfy.fix_text` (v6) steps that matter for
// prompts, then whitespace collapsing and Unicode lower-casing. Hand-written because no C++
// library reproduces ftfy; ICU provides the Unicode data (NFC/NFKC, case mapping).
//
// Implemented ftfy steps, repeated until the text stops changing: terminal escapes removed; UTF-8
// mojibake repaired where a run of characters is the Windows-1252/Latin-1 reading of a valid
// UTF-8 sequence ("cafÃ©" -> "café"); C1 controls read as Windows-1252; HTML entities decoded
// unless the text contains '<'; Latin ligatures expanded; full-width and half-width forms made
// normal width; curly quotes straightened; line breaks normalised; control characters removed;
// NFC. Not implemented: ftfy's whole-text re-decoding in other legacy encodings (cp1251,
// iso-8859-2, MacRoman, cp437) and its "badness" heuristic.
#pragma once

#include <string>
#include <string_view>

namespace diffedit::text {

// ftfy.fix_text subset (see above). Input and output are UTF-8; invalid UTF-8 input bytes become
// U+FFFD.
std::string fix_text(std::string_view utf8);

// Python's re.sub(r"\s+", " ", t).strip() with Python's notion of whitespace.
std::string collapse_whitespace(std::string_view utf8);

// Python's str.lower() (full Unicode lower-casing, including final sigma).
std::string to_lower(std::string_view utf8);

// What transformers' CLIPTokenizer does before splitting: lower(collapse_whitespace(fix_text(t))).
std::string clip_clean(std::string_view utf8);

}  // namespace diffedit::text
