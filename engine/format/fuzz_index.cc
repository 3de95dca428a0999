// libFuzzer target: DecodeIndex must never crash or read out of bounds, and what it accepts
// must encode back to the same bytes (the encoding is canonical) or, when the packs are listed
// in another order than first use, decode back to the same entries.
// Build with -DREWIND_FUZZ=ON and clang.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/format/index_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoded = rw::DecodeIndex(input);
  if (!decoded.ok()) return 0;
  auto again = rw::DecodeIndex(rw::EncodeIndex(*decoded));
  if (!again.ok() || again->size() != decoded->size()) std::abort();
  for (size_t i = 0; i < again->size(); ++i) {
    const rw::IndexEntry& a = (*again)[i];
    const rw::IndexEntry& b = (*decoded)[i];
    if (a.id != b.id || a.pack != b.pack || a.type != b.type || a.offset != b.offset ||
        a.compressed_length != b.compressed_length || a.raw_length != b.raw_length) {
      std::abort();
    }
  }
  return 0;
}
