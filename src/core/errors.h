// One exception hierarchy for the whole project. Every error names what it is about (a file, a
// command-line argument, a config key) and the problem, so the CLI can print
// `error: <source>: <problem>` and pick the exit code from the type.
#pragma once

#include <stdexcept>
#include <string>

namespace diffedit {

// Process exit codes used by the `diffedit` executable.
enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitBadInput = 2 };

class Error : public std::runtime_error {
 public:
  // `source` names the file, argument or key the problem is about; it may be empty.
  Error(std::string source, std::string problem);
  const std::string& source() const noexcept { return source_; }
  const std::string& problem() const noexcept { return problem_; }
  virtual int exit_code() const noexcept { return kExitFailure; }

 private:
  std::string source_;
  std::string problem_;
};

// The user's input is wrong: a file, a config, an argument. Exit code 2.
class InputError : public Error {
 public:
  using Error::Error;
  int exit_code() const noexcept override { return kExitBadInput; }
};

// A file is missing, unreadable or cannot be written.
class FileError : public InputError {
 public:
  using InputError::InputError;
};

// A file exists but its content is malformed (corrupt safetensors, not an image, bad JSON).
class FormatError : public InputError {
 public:
  using InputError::InputError;
};

// A configuration is invalid: unknown key, wrong type, value out of range.
class ConfigError : public InputError {
 public:
  using InputError::InputError;
};

// A computation produced a non-finite value or otherwise failed at run time. Exit code 1.
class NumericError : public Error {
 public:
  using Error::Error;
};

// Builds "what failed: strerror(errno)" for system-call failures.
std::string errno_message(const std::string& what, int err);

}  // namespace diffedit
