#include "engine/format/checksum.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "engine/format/format_test_util.h"

namespace rw {
namespace {

// Known answers from the xxHash sanity tests, as reproduced in LLVM's
// unittests/Support/xxhashTest.cpp (independent of this code and of libxxhash's build).
std::string XorshiftBuffer(size_t n) {
  std::string a(n, '\0');
  uint64_t x = 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    a[i] = static_cast<char>(x);
  }
  return a;
}

std::string SanityBuffer(size_t n) {
  std::string a(n, '\0');
  uint64_t gen = 2654435761U;
  for (size_t i = 0; i < n; ++i) {
    a[i] = static_cast<char>(gen >> 56);
    gen *= 11400714785074694797ULL;
  }
  return a;
}

TEST(Xxh3Test, KnownAnswers64) {
  const std::string a = XorshiftBuffer(2243);
  const std::vector<std::pair<size_t, uint64_t>> cases = {
      {0, 0x2d06800538d394c2},    {1, 0xd0d496e05c553485},    {3, 0x6ea2d59aca5c3778},
      {8, 0xabc1413da6cd0209},    {17, 0xed4be912ba5f836d},   {64, 0xfa5271fcce0db1c3},
      {129, 0xbc7138129bf065da},  {403, 0xcefeb3ffa532ad8c},  {2048, 0x330ce110cbb79eae},
      {2049, 0x3ba6afa0249fef9a}, {2243, 0x0979f786a24edde7},
  };
  for (auto [len, want] : cases) {
    EXPECT_EQ(Xxh3_64(std::string_view(a).substr(0, len)), want) << "length " << len;
  }
}

TEST(Xxh3Test, KnownAnswers128) {
  const std::string a = SanityBuffer(2367);
  struct Case {
    size_t len;
    uint64_t low, high;
  };
  const Case cases[] = {
      {0, 0x6001C324468D497FULL, 0x99AA06D3014798D8ULL},
      {1, 0xC44BDFF4074EECDBULL, 0xA6CD5E9392000F6AULL},
      {24, 0x1E7044D28B1B901DULL, 0x0CE966E4678D3761ULL},
      {222, 0xF1AEBD597CEC6B3AULL, 0x337E09641B948717ULL},
      {2048, 0xDD59E2C3A5F038E0ULL, 0xF736557FD47073A5ULL},
      {2367, 0xCB37AEB9E5D361EDULL, 0xE89C0F6FF369B427ULL},
  };
  for (const Case& c : cases) {
    Xxh128 h = Xxh3_128(std::string_view(a).substr(0, c.len));
    EXPECT_EQ(h.low, c.low) << "length " << c.len;
    EXPECT_EQ(h.high, c.high) << "length " << c.len;
  }
}

TEST(Xxh3Test, HexIsCanonicalHighFirst) {
  // xxh128sum prints the empty input as 99aa06d3014798d86001c324468d497f.
  Xxh128 h = Xxh3_128("");
  EXPECT_EQ(h.Hex(), "99aa06d3014798d86001c324468d497f");
  Xxh128 back;
  ASSERT_TRUE(Xxh128::FromHex(h.Hex(), &back));
  EXPECT_EQ(back, h);
  ASSERT_TRUE(Xxh128::FromHex("99AA06D3014798D86001C324468D497F", &back));
  EXPECT_EQ(back, h);
  EXPECT_FALSE(Xxh128::FromHex("99aa06d3014798d86001c324468d497", &back));
  EXPECT_FALSE(Xxh128::FromHex("99aa06d3014798d86001c324468d497fx", &back));
  EXPECT_FALSE(Xxh128::FromHex("z9aa06d3014798d86001c324468d497f", &back));
}

TEST(Xxh3Test, StreamsMatchOneShot) {
  const std::string data = testing::SeededBytes(5 << 20, 11);
  Xxh128Stream s128;
  Xxh64Stream s64;
  for (size_t i = 0, step = 1; i < data.size(); i += step, step = step * 2 + 7) {
    s128.Update(std::string_view(data).substr(i, step));
    s64.Update(std::string_view(data).substr(i, step));
  }
  EXPECT_EQ(s128.Digest(), Xxh3_128(data));
  EXPECT_EQ(s64.Digest(), Xxh3_64(data));
  // Digest does not end the stream.
  s64.Update("x");
  EXPECT_EQ(s64.Digest(), Xxh3_64(data + "x"));
  Xxh64Stream empty;
  EXPECT_EQ(empty.Digest(), 0x2d06800538d394c2u);
}

TEST(Xxh3Test, MatchesXxhsumCliWhenInstalled) {
  const std::string data = testing::SeededBytes(100000, 5);
  const std::string path = "/tmp/rewind_xxh_test_" + std::to_string(::getpid());
  ASSERT_TRUE(testing::WriteFile(path, data));
  bool ok = false;
  std::string out = testing::RunCommand("xxh128sum " + path + " 2>/dev/null", &ok);
  std::remove(path.c_str());
  if (!ok) GTEST_SKIP() << "xxh128sum (package xxhash) is not installed";
  EXPECT_EQ(out.substr(0, 32), Xxh3_128(data).Hex());
}

}  // namespace
}  // namespace rw
