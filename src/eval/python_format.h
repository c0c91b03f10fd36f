// Numbers and CSV rows as Python writes them, so that files meant to be read beside (or diffed
// against) a Python tool's output match it character for character: PIE-Bench's evaluate.py
// writes str() of Python floats and of 0-d float32 numpy arrays through csv.writer.
//
// Written by hand on std::to_chars: its shortest round-trip digits are the ones Python (David
// Gay's dtoa, mode 0) and numpy (Dragon4, unique mode) print, but neither std::format nor fmt nor
// printf reproduces the way the two choose between positional and scientific notation, pad with
// zeros and trim (and the two differ from each other at the 1e-4 boundary).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace diffedit::eval {

// Python's repr(float) (= str): the shortest digits that round-trip the double; scientific when
// the decimal exponent of those digits is < -4 or >= 16 ("1e-05", "1e+16", "1.5e-07"), else
// positional with at least one fractional digit ("0.0001", "100.0"); "nan", "inf", "-inf", "-0.0".
std::string python_float_repr(double value);

// numpy's str() of a float32 scalar or 0-d array (numpy >= 1.14): the shortest digits that
// round-trip the float32, scientific when |value| < 1e-4 or >= 1e16 judged on the value itself,
// not its digits, so 1e-4f (9.99999975e-05) prints "1e-04" where Python would print "0.0001".
std::string numpy_float32_str(float value);

// One row of Python's csv.writer (excel dialect, QUOTE_MINIMAL): fields joined by ',', a field
// holding ',', '"', '\r' or '\n' quoted with its '"' doubled, the row ended by "\r\n".
std::string python_csv_row(const std::vector<std::string>& fields);

// The rows of a CSV text as csv.reader reads them: quoted fields may hold ',', '""' and line
// breaks; rows end with "\r\n" or "\n"; a final line without its end is a row too. FormatError
// naming `source` for an unterminated quote or text after a closing quote.
std::vector<std::vector<std::string>> parse_python_csv(std::string_view text, const std::string& source);

}  // namespace diffedit::eval
