#include "eval/python_format.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/errors.h"

namespace diffedit::eval {

namespace {

// The shortest round-trip digits of a finite value: value = (-1)^negative d0.d1d2... x 10^exponent.
struct Digits {
  bool negative = false;
  std::string digits;  // no leading zero except for the value 0 itself ("0")
  int exponent = 0;
};

template <class T>
Digits shortest_digits(T value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));  // "-1.5e-07", "2e+16"
  Digits d;
  std::size_t i = 0;
  if (text[i] == '-') d.negative = true, ++i;
  for (; text[i] != 'e'; ++i)
    if (text[i] != '.') d.digits += text[i];
  const std::string_view exponent = text.substr(i + 1);
  std::from_chars(exponent.data() + (exponent[0] == '+' ? 1 : 0), exponent.data() + exponent.size(), d.exponent);
  return d;
}

// "123.45", "0.00012", "1e+16" zero-padded: "10000000000000000.0"; at least one fractional digit.
std::string positional(const Digits& d) {
  std::string out = d.negative ? "-" : "";
  const int n = static_cast<int>(d.digits.size());
  if (d.exponent < 0) return out + "0." + std::string(static_cast<std::size_t>(-d.exponent - 1), '0') + d.digits;
  const int integer_digits = d.exponent + 1;
  if (n <= integer_digits) return out + d.digits + std::string(static_cast<std::size_t>(integer_digits - n), '0') + ".0";
  return out + d.digits.substr(0, static_cast<std::size_t>(integer_digits)) + "." +
         d.digits.substr(static_cast<std::size_t>(integer_digits));
}

// "1e-05", "1.5e-07", "2.5e+16": the exponent signed, with at least two digits (Python and numpy alike).
std::string scientific(const Digits& d) {
  std::string out = d.negative ? "-" : "";
  out += d.digits[0];
  if (d.digits.size() > 1) out += "." + d.digits.substr(1);
  const int e = std::abs(d.exponent);
  return out + (d.exponent < 0 ? "e-" : "e+") + (e < 10 ? "0" : "") + std::to_string(e);
}

template <class T>
std::string non_finite(T value) {
  if (std::isnan(value)) return "nan";
  return value > 0 ? "inf" : "-inf";
}

}  // namespace

std::string python_float_repr(double value) {
  if (!std::isfinite(value)) return non_finite(value);
  const Digits d = shortest_digits(value);
  // CPython's format_float_short, mode 'r': exponent notation when decpt <= -4 or decpt > 16,
  // decpt = exponent + 1 (a rule on the digits, not on the value).
  return d.exponent < -4 || d.exponent >= 16 ? scientific(d) : positional(d);
}

std::string numpy_float32_str(float value) {
  if (!std::isfinite(value)) return non_finite(value);
  // numpy's floattype_str_either: positional when value == 0 or 1e-4 <= |value| < 1e16, compared
  // on the value (no float32 lies between 1e-4 and the long double numpy compares with).
  const double magnitude = std::abs(static_cast<double>(value));
  const bool use_positional = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e16);
  const Digits d = shortest_digits(value);
  return use_positional ? positional(d) : scientific(d);
}

std::string python_csv_row(const std::vector<std::string>& fields) {
  // csv.writer quotes a row made of one empty field, so that it is not read back as no field.
  if (fields.size() == 1 && fields[0].empty()) return "\"\"\r\n";
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    const std::string& f = fields[i];
    if (f.find_first_of(",\"\r\n") == std::string::npos) {
      out += f;
      continue;
    }
    out += '"';
    for (const char c : f) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    out += '"';
  }
  return out + "\r\n";
}

std::vector<std::vector<std::string>> parse_python_csv(std::string_view text, const std::string& source) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  std::size_t i = 0;
  bool in_row = false;  // something of the current row was read
  const auto end_row = [&] {
    in_row = false;
    row.push_back(std::move(field));
    field.clear();
    rows.push_back(std::move(row));
    row.clear();
  };
  while (i < text.size()) {
    const bool line_end = text[i] == '\r' || text[i] == '\n';
    in_row = in_row || !line_end;
    if (text[i] == '"') {  // a quoted field, up to its closing quote
      ++i;
      for (;; ++i) {
        if (i >= text.size()) throw FormatError(source, "row " + std::to_string(rows.size() + 1) + ": unterminated quoted field");
        if (text[i] != '"') {
          field += text[i];
        } else if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"', ++i;
        } else {
          ++i;
          break;
        }
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\r' && text[i] != '\n')
        throw FormatError(source, "row " + std::to_string(rows.size() + 1) + ": text after a closing quote");
      continue;
    }
    if (text[i] == ',') {
      row.push_back(std::move(field));
      field.clear();
      ++i;
    } else if (line_end) {
      i += text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n' ? 2 : 1;
      if (in_row)
        end_row();
      else
        rows.emplace_back();  // a blank line: csv.reader's []
    } else {
      field += text[i++];
    }
  }
  if (in_row) end_row();
  return rows;
}

}  // namespace diffedit::eval
