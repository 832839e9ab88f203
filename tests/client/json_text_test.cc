#include "client/json_text.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace tessera::client {
namespace {

TEST(JsonTextTest, QuotesAndEscapes) {
  EXPECT_EQ(JsonQuote("logits"), "\"logits\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("x\ny\t"), "\"x\\ny\\t\"");
  EXPECT_EQ(JsonQuote(std::string("\x01", 1)), "\"\\u0001\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(JsonTextTest, Numbers) {
  EXPECT_EQ(JsonNumber(1.5), "1.500000");
  EXPECT_EQ(JsonNumber(0), "0.000000");
  EXPECT_EQ(JsonNumber(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(JsonNumber(std::nan("")), "null");
}

}  // namespace
}  // namespace tessera::client
