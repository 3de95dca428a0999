// Paths as strings: where one lies relative to another.
#pragma once

#include <optional>
#include <string>

namespace rw {

// `path` relative to the directory `dir`: "" when it is `dir` itself, "a/b" when it is below it,
// nullopt otherwise. Both absolute and canonical (as realpath gives them).
inline std::optional<std::string> PathWithin(const std::string& dir, const std::string& path) {
  if (path == dir) return std::string();
  const std::string prefix = dir == "/" ? dir : dir + "/";
  if (path.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  return path.substr(prefix.size());
}

}  // namespace rw
