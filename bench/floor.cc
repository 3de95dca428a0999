// The CPU time one thread spends on the two things every byte of a rewind dump must go through:
// zstd compression (libzstd, one frame per 1 MiB piece, as a chunk is one frame) and SHA-256
// (OpenSSL's EVP, the blob id). Used by bench/db.sh to compute the least time any dump that
// hashes and compresses can take; built there with g++ (not part of rewind's build).
//
//   floor FILE LEVEL [LEVEL...]     prints "zstd LEVEL RATIO CPU_S" lines, then "sha256 CPU_S"
//
// A negative LEVEL is one of zstd's fast levels with the literals still Huffman-coded (plain
// fast levels store them raw and barely compress text). CPU seconds are the thread's own
// (CLOCK_THREAD_CPUTIME_ID), best of three passes, so other load on the machine matters little.
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_c_literalCompressionMode
#include <openssl/evp.h>
#include <zstd.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

double ThreadCpu() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

constexpr size_t kPiece = 1 << 20;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: floor FILE LEVEL [LEVEL...]\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    std::fprintf(stderr, "floor: cannot read %s\n", argv[1]);
    return 1;
  }
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<char> out(ZSTD_compressBound(kPiece));
  for (int i = 2; i < argc; ++i) {
    const int level = std::atoi(argv[i]);
    double best = 1e9;
    size_t compressed = 0;
    for (int pass = 0; pass < 3; ++pass) {
      compressed = 0;
      const double t0 = ThreadCpu();
      for (size_t off = 0; off < data.size(); off += kPiece) {
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
        if (level < 0) ZSTD_CCtx_setParameter(cctx, ZSTD_c_literalCompressionMode, ZSTD_ps_enable);
        const size_t n = std::min(kPiece, data.size() - off);
        const size_t r = ZSTD_compress2(cctx, out.data(), out.size(), data.data() + off, n);
        if (ZSTD_isError(r)) {
          std::fprintf(stderr, "floor: zstd: %s\n", ZSTD_getErrorName(r));
          return 1;
        }
        compressed += r;
      }
      best = std::min(best, ThreadCpu() - t0);
    }
    std::printf("zstd %d %.3f %.3f\n", level, static_cast<double>(data.size()) / static_cast<double>(compressed), best);
  }
  ZSTD_freeCCtx(cctx);
  double best = 1e9;
  for (int pass = 0; pass < 3; ++pass) {
    const double t0 = ThreadCpu();
    for (size_t off = 0; off < data.size(); off += kPiece) {
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      EVP_Digest(data.data() + off, std::min(kPiece, data.size() - off), md, &len, EVP_sha256(), nullptr);
    }
    best = std::min(best, ThreadCpu() - t0);
  }
  std::printf("sha256 %.3f\n", best);
  return 0;
}
