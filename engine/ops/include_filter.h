// --include for restore: an entry is selected when it, or a directory above it, matches one of
// the patterns (excludes.h syntax). Directories on the way to a selected entry are created too.
#pragma once

#include <string>
#include <vector>

#include "excludes/excludes.h"

namespace rw {

class IncludeFilter {
 public:
  static Result<IncludeFilter> Make(const std::vector<std::string>& patterns) {
    IncludeFilter f;
    for (const std::string& p : patterns) RW_RETURN_IF_ERROR(f.set_.Add(p, "--include"));
    f.all_ = patterns.empty();
    return f;
  }
  bool all() const { return all_; }
  // REQUIRES: the parent of `path` was not itself selected (callers pass ancestor_selected).
  bool Selected(const std::string& path, bool is_dir, bool ancestor_selected) const {
    return all_ || ancestor_selected || set_.Match(path, is_dir) >= 0;
  }

 private:
  ExcludeSet set_;
  bool all_ = true;
};

}  // namespace rw
