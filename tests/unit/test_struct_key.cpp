// struct_key: every field of an options struct, in order, with values that round-trip.
#include <gtest/gtest.h>

#include "core/struct_key.h"

namespace {
enum class Kind { a, b };
struct Three {
  std::int64_t n = 2;
  double x = 0.1;
  Kind kind = Kind::b;
  auto fields() const {
    using diffedit::structs::field;
    return std::tuple{field("n", n), field("x", x), field("kind", kind)};
  }
};
struct Five {
  bool a = false;
  double b = 0, c = 0;
  std::int64_t d = 0;
  Kind e = Kind::a;
};
}  // namespace

TEST(StructKey, CountsTheMembersOfAnAggregate) {
  static_assert(diffedit::structs::member_count<Three>() == 3);
  static_assert(diffedit::structs::member_count<Five>() == 5);
}

TEST(StructKey, ListsEveryFieldAndTellsCloseValuesApart) {
  Three s;
  EXPECT_EQ(diffedit::structs::struct_key(s), "n=2 x=0.10000000000000001 kind=1");
  Three t = s;
  t.x = 0.1 + 1e-16;  // the next double: a different value, a different key
  EXPECT_NE(diffedit::structs::struct_key(s), diffedit::structs::struct_key(t));
  t = s;
  EXPECT_EQ(diffedit::structs::struct_key(s), diffedit::structs::struct_key(t));
}
