#include <gtest/gtest.h>

#include "core/errors.h"

using namespace diffedit;

TEST(Errors, MessageNamesSourceAndProblem) {
  const FormatError e("model/unet.safetensors", "header is not a JSON object");
  EXPECT_STREQ(e.what(), "model/unet.safetensors: header is not a JSON object");
  EXPECT_EQ(e.source(), "model/unet.safetensors");
  EXPECT_EQ(e.problem(), "header is not a JSON object");
  EXPECT_STREQ(Error("", "plain").what(), "plain");
}

TEST(Errors, ExitCodesFollowTheHierarchy) {
  EXPECT_EQ(FileError("f", "p").exit_code(), kExitBadInput);
  EXPECT_EQ(FormatError("f", "p").exit_code(), kExitBadInput);
  EXPECT_EQ(ConfigError("f", "p").exit_code(), kExitBadInput);
  EXPECT_EQ(InputError("f", "p").exit_code(), kExitBadInput);
  EXPECT_EQ(NumericError("f", "p").exit_code(), kExitFailure);
  EXPECT_EQ(Error("f", "p").exit_code(), kExitFailure);
  // Catchable through the base with the derived exit code.
  try {
    throw ConfigError("c.json", "bad");
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
  }
}
