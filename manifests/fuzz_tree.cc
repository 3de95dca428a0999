// libFuzzer entry point for tree documents. Checks: DecodeTree never throws or crashes; a
// decoded tree re-encodes to a document that decodes to the same tree, and re-encoding that
// is byte-identical (canonical). Also uses the input as raw name, target and xattr bytes of
// an entry, so that the UTF-8-or-hex choice of EncodeTree is checked against the JSON library
// (an invalid string would make it throw). And wherever the fast reader of the canonical form
// answers, it answers as the JSON library does; EncodeTree's bytes are the library's.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "manifests/json_internal.h"
#include "manifests/tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);

  rw::Result<rw::Tree> tree = rw::DecodeTree(input);
  if (tree.ok()) {
    std::string doc = rw::EncodeTree(*tree);
    rw::Result<rw::Tree> again = rw::DecodeTree(doc);
    if (!again.ok() || again->entries != tree->entries) std::abort();
    if (rw::EncodeTree(*again) != doc) std::abort();
    if (rw::manifest_internal::EncodeTreeJson(*tree) != doc) std::abort();
  }

  rw::Tree fast;
  if (rw::manifest_internal::DecodeTreeFast(input, &fast)) {
    rw::Result<rw::Tree> slow = rw::manifest_internal::DecodeTreeJson(input);
    if (slow.ok() != rw::ValidateTree(fast).ok()) std::abort();
    if (slow.ok() && slow->entries != fast.entries) std::abort();
  }

  rw::Tree raw;
  raw.entries.resize(1);
  rw::TreeEntry& e = raw.entries[0];
  e.name = input;
  e.type = rw::EntryType::kSymlink;
  e.link_target = input;
  e.user = input;
  e.xattrs = {{input, input}};
  if (rw::ValidateTree(raw).ok()) {
    rw::Result<rw::Tree> back = rw::DecodeTree(rw::EncodeTree(raw));
    if (!back.ok() || back->entries != raw.entries) std::abort();
  }
  return 0;
}
