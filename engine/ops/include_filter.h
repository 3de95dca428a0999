// --include for restore: an entry is selected when it, or a directory above it, matches one of
// the patterns (excludes.h syntax). Directories on the way to a selected entry are created too.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "engine/base/paths.h"
#include "engine/ops/snapshots.h"
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
  // The same for a path whose ancestors were not looked at: each is matched.
  bool SelectedPath(const std::string& path, bool is_dir) const {
    return all_ || AnyPrefixOf(path, [&](const std::string& p, bool whole) {
             return set_.Match(p, whole ? is_dir : true) >= 0;
           });
  }

 private:
  ExcludeSet set_;
  bool all_ = true;
};

// A hardlink's entry names the first name of its inode, which holds the content. --include
// may select a later name and not that one: then the first selected name of the inode gets the
// content (as a file), and the next selected names link to it. Not thread-safe; one per walk.
class HardlinkReroute {
 public:
  // What to write for the selected hardlink entry `e` at `path` below the snapshot tree `root`:
  // `e` itself, `e` linked to another selected name, or the target's file entry named as `e`.
  Result<TreeEntry> Resolve(const Repository& repo, const IncludeFilter& filter, const BlobId& root,
                            const std::string& path, const TreeEntry& e) {
    if (filter.all() || filter.SelectedPath(e.link_target, false)) return e;
    if (auto it = first_.find(e.link_target); it != first_.end()) {
      TreeEntry linked = e;
      linked.link_target = it->second;
      return linked;
    }
    RW_ASSIGN_OR_RETURN(TreeEntry target, FindEntryBelow(repo, nullptr, root, e.link_target));
    if (target.type != EntryType::kFile) {
      return Status::Corruption("hardlink target " + e.link_target + " is not a regular file in the snapshot");
    }
    target.name = e.name;
    first_.emplace(e.link_target, path);
    return target;
  }

 private:
  std::unordered_map<std::string, std::string> first_;  // link target -> first selected name
};

}  // namespace rw
