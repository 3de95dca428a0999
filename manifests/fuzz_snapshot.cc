// libFuzzer entry point for snapshot documents. Checks: DecodeSnapshot never throws or
// crashes; a decoded snapshot re-encodes to a document that decodes to the same snapshot; the
// input used as raw bytes of every string field round-trips.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "manifests/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);

  rw::Result<rw::Snapshot> snap = rw::DecodeSnapshot(input);
  if (snap.ok()) {
    std::string doc = rw::EncodeSnapshot(*snap);
    rw::Result<rw::Snapshot> again = rw::DecodeSnapshot(doc);
    if (!again.ok() || !(*again == *snap)) std::abort();
    if (rw::EncodeSnapshot(*again) != doc) std::abort();
  }

  rw::Snapshot raw;
  raw.hostname = raw.username = raw.tool_version = raw.source = input;
  raw.excludes = {input, "/mail/"};
  raw.tags = {input};
  rw::Result<rw::Snapshot> back = rw::DecodeSnapshot(rw::EncodeSnapshot(raw));
  if (!back.ok() || !(*back == raw)) std::abort();
  return 0;
}
