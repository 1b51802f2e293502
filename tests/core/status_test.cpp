#include "core/status.h"

#include <gtest/gtest.h>

namespace nm {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return error(ErrorCode::invalid_argument, "value must be positive");
  return v;
}

Result<int> doubled(int v) {
  NM_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = error(ErrorCode::invalid_file, "tensor 'w' ends past the end of the file");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::invalid_file);
  EXPECT_EQ(s.to_string(), "invalid file: tensor 'w' ends past the end of the file");
}

TEST(Result, PropagatesErrors) {
  EXPECT_EQ(doubled(4).value(), 8);
  Result<int> r = doubled(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace nm
