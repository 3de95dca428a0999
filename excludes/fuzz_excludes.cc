// libFuzzer entry point for exclusion rules. Input: the first line is a pattern, each further
// line a path matched as a file and as a directory. Also feeds the whole input to AddLines.
// Checks: no crash, no sanitizer report, Match returns -1 or a valid rule index, and a rule
// that parsed once parses again from its stored text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "excludes/excludes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view pattern = input.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? "" : input.substr(nl + 1);

  rw::ExcludeSet set;
  if (set.Add(pattern, "fuzz").ok() && !set.empty()) {
    rw::ExcludeSet again;
    if (!again.Add(set.rules()[0].text, "fuzz").ok()) std::abort();
  }
  const int n = static_cast<int>(set.rules().size());
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view path = rest.substr(0, end);
    for (bool is_dir : {false, true}) {
      int m = set.Match(path, is_dir);
      if (m < -1 || m >= n) std::abort();
    }
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }

  rw::ExcludeSet lines;
  if (!lines.AddLines(input, "fuzz").ok() && !lines.empty()) std::abort();  // all or nothing
  return 0;
}
