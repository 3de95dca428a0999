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

// True when `pred(prefix, is_whole)` holds for a '/'-separated relative path's ancestors, from
// the top ("a", "a/b"), or for the path itself ("a/b/c", is_whole true).
template <class Pred>
bool AnyPrefixOf(const std::string& path, Pred&& pred) {
  for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    if (pred(path.substr(0, slash), false)) return true;
  }
  return pred(path, true);
}

}  // namespace rw
