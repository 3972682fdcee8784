// Tests of src/digest: SHA-256 against the FIPS 180-2 vectors, incremental equals whole, and
// the file form.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "digest/sha256.h"

namespace sbx::digest {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsWhole) {
  std::string data(300000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  Sha256 h;
  for (size_t off = 0; off < data.size(); off += 4093)
    h.Update(std::string_view(data).substr(off, 4093));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(data));
}

TEST(Sha256, OfAFileFromItsStartWhateverTheOffset) {
  char path[] = "/tmp/sbx-digest-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  ASSERT_EQ(write(fd, "abc", 3), 3);  // the offset is now at the end
  auto hex = Sha256OfFd(fd);
  close(fd);
  ASSERT_TRUE(hex.ok()) << hex.error().ToString();
  EXPECT_EQ(*hex, Sha256Hex("abc"));
}

TEST(Sha256, ABadFdIsAnError) {
  auto hex = Sha256OfFd(-1);
  ASSERT_FALSE(hex.ok());
}

}  // namespace
}  // namespace sbx::digest
