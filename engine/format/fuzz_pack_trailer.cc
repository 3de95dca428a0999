// libFuzzer target: ParsePackTrailer must never crash or read out of bounds, and what it
// accepts must satisfy its contract. Build with -DREWIND_FUZZ=ON and clang.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/format/pack.h"

namespace {

void CheckAccepted(const rw::PackTrailer& t, uint64_t file_size) {
  uint64_t end = 0;
  if (t.trailer_offset > file_size) std::abort();
  for (const rw::PackEntry& e : t.entries) {
    if (e.offset < end || e.offset + e.compressed_length > t.trailer_offset) std::abort();
    end = e.offset + e.compressed_length;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The input as a whole pack.
  auto whole = rw::ParsePackTrailer(input, size);
  if (whole.ok()) CheckAccepted(*whole, size);
  // The input as the tail of a larger pack; when more is needed, `need` must be sane.
  uint64_t need = 0;
  const uint64_t file_size = uint64_t{size} + 1000;
  auto tail = rw::ParsePackTrailer(input, file_size, &need);
  if (tail.ok()) {
    CheckAccepted(*tail, file_size);
  } else if (tail.status().code() == rw::Code::kInvalidArgument &&
             (need <= size || need > file_size)) {
    std::abort();
  }
  return 0;
}
