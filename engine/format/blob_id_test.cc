#include "engine/format/blob_id.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/format/format_test_util.h"

namespace rw {
namespace {

TEST(Sha256Test, KnownAnswers) {
  // FIPS 180-2 appendix B test vectors.
  EXPECT_EQ(Sha256("abc").Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("").Hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").Hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256(std::string(1000000, 'a')).Hex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, MatchesSha256sumCli) {
  std::string data = testing::SeededBytes(3 << 20, 7);
  std::string path = "/tmp/rewind_sha_test_" + std::to_string(getpid());
  ASSERT_TRUE(testing::WriteFile(path, data));
  bool ok = false;
  std::string out = testing::RunCommand("sha256sum " + path, &ok);
  std::remove(path.c_str());
  if (!ok) GTEST_SKIP() << "sha256sum is not available";
  EXPECT_EQ(out.substr(0, 64), Sha256(data).Hex());
}

TEST(Sha256Test, StreamMatchesOneShot) {
  std::string data = testing::SeededBytes(1 << 20, 3);
  Sha256Stream s;
  for (size_t i = 0, step = 1; i < data.size(); i += step, step = step * 3 + 1) {
    s.Update(std::string_view(data).substr(i, step));
  }
  EXPECT_EQ(s.Finish(), Sha256(data));
  // Finish resets the stream.
  s.Update("abc");
  EXPECT_EQ(s.Finish(), Sha256("abc"));
}

TEST(BlobIdTest, HexRoundTrip) {
  BlobId id = Sha256("abc");
  Result<BlobId> back = BlobId::FromHex(id.Hex());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, id);
  EXPECT_EQ(id.Short(), "ba7816bf8f01");
  // Upper case is accepted, the output is lower case.
  std::string upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
  ASSERT_TRUE(BlobId::FromHex(upper).ok());
  EXPECT_EQ(BlobId::FromHex(upper)->Hex(), id.Hex());
}

TEST(BlobIdTest, FromHexRejects) {
  std::string hex = Sha256("abc").Hex();
  EXPECT_EQ(BlobId::FromHex("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(BlobId::FromHex(hex.substr(1)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(BlobId::FromHex(hex + "00").status().code(), Code::kInvalidArgument);
  std::string bad = hex;
  bad[10] = 'g';
  EXPECT_EQ(BlobId::FromHex(bad).status().code(), Code::kInvalidArgument);
}

TEST(BlobIdTest, OrderIsByteOrder) {
  BlobId a, b;
  a.bytes[0] = 1;
  b.bytes[0] = 2;
  a.bytes[31] = 0xFF;
  EXPECT_LT(a, b);
  EXPECT_NE(a, b);
  EXPECT_EQ(BlobIdHash()(a), BlobIdHash()(BlobId::FromBytes(a.bytes.data())));
}

}  // namespace
}  // namespace rw
