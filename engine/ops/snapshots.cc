#include "engine/ops/snapshots.h"

#include <algorithm>
#include <set>
#include <cctype>

namespace rw {

Result<std::vector<SnapshotRef>> LoadSnapshots(Repository* repo, std::vector<DamagedSnapshot>* damaged) {
  RW_ASSIGN_OR_RETURN(auto ids, repo->ListSnapshotIds());
  std::vector<SnapshotRef> out;
  for (const std::string& id : ids) {
    auto doc = repo->LoadSnapshotDoc(id);
    Result<Snapshot> snap = doc.ok() ? DecodeSnapshot(*doc) : Result<Snapshot>(doc.status());
    if (!snap.ok()) {
      Status s = doc.ok() ? snap.status().WithContext("snapshot " + id.substr(0, 12) + " (" +
                                                      repo->storage().Describe("snapshots/" + id) + ")")
                          : snap.status();
      if (!damaged) return s;
      damaged->push_back({id, std::move(s)});
      continue;
    }
    out.push_back({id, std::move(*snap)});
  }
  std::stable_sort(out.begin(), out.end(), [](const SnapshotRef& a, const SnapshotRef& b) {
    return a.snapshot.time_ns < b.snapshot.time_ns;
  });
  return out;
}

Result<SnapshotRef> ResolveSnapshot(Repository* repo, std::string_view spec, bool latest_skips_safety) {
  std::vector<DamagedSnapshot> damaged;
  RW_ASSIGN_OR_RETURN(auto all, LoadSnapshots(repo, &damaged));
  // Ids are lowercase hex; a prefix copied from elsewhere may be uppercase.
  std::string lower(spec);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto is_prefix = [&](const std::string& id) { return lower.size() >= 4 && id.compare(0, lower.size(), lower) == 0; };
  for (const DamagedSnapshot& d : damaged) {
    if (is_prefix(d.id)) return d.status;
  }
  std::vector<const SnapshotRef*> by_prefix;
  for (const SnapshotRef& s : all) {
    if (is_prefix(s.id)) by_prefix.push_back(&s);
  }
  if (!damaged.empty() && by_prefix.empty()) {
    const std::string more = damaged.size() > 1 ? " (and " + std::to_string(damaged.size() - 1) + " more)" : "";
    return Status::Corruption(damaged[0].status.message() + more + ": it may be the newest snapshot or carry the tag \"" +
                              std::string(spec) + "\", so \"" + std::string(spec) +
                              "\" cannot be resolved; name the snapshot by its id (`rewind snapshots` lists the "
                              "others) and run `rewind verify`");
  }
  if (all.empty()) return Status::NotFound("the repository has no snapshots");
  if (spec == "latest" && latest_skips_safety) {
    const SnapshotRef* newest = nullptr;
    std::set<std::string> sources;  // of the snapshots a rollback could mean
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      const auto& tags = it->snapshot.tags;
      if (std::find(tags.begin(), tags.end(), kSafetyTag) != tags.end()) continue;
      if (!newest) newest = &*it;
      sources.insert(it->snapshot.source);
    }
    if (!newest) {
      return Status::NotFound(std::string("the repository has only safety snapshots (tag ") + kSafetyTag +
                              "): name one by its id to roll back to it");
    }
    // Snapshots of /opt/icewarp and of /etc/icewarp (or a databases-only one) side by side:
    // the newest of them all is not what "latest" means to whoever rolls back one of them.
    if (sources.size() > 1) {
      std::string list;
      for (const std::string& src : sources) list += (list.empty() ? "" : ", ") + (src.empty() ? "(databases only)" : src);
      return Status::InvalidArgument("\"latest\" is ambiguous for a rollback: the repository holds snapshots of " +
                                     std::to_string(sources.size()) + " sources (" + list +
                                     "); name the snapshot by its tag or id (`rewind snapshots`)");
    }
    return *newest;
  }
  if (spec == "latest") return all.back();
  const SnapshotRef* tagged = nullptr;  // the newest snapshot with the tag
  size_t tag_matches = 0;                // how many carry it
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const auto& tags = it->snapshot.tags;
    if (std::find(tags.begin(), tags.end(), spec) == tags.end()) continue;
    if (!tagged) tagged = &*it;
    ++tag_matches;
  }
  // A tag made only of hex digits (a date: 20261202) can also be an id prefix.
  if (tagged && !by_prefix.empty() && !(by_prefix.size() == 1 && by_prefix[0] == tagged)) {
    return Status::InvalidArgument("\"" + std::string(spec) + "\" is both a tag (snapshot " + tagged->id.substr(0, 12) +
                                   ") and the start of snapshot id " + by_prefix[0]->id.substr(0, 12) +
                                   ": name the snapshot by a longer id prefix");
  }
  if (by_prefix.size() == 1) return *by_prefix[0];
  if (by_prefix.size() > 1) {
    std::string ids;
    for (size_t i = 0; i < by_prefix.size() && i < 5; ++i) ids += (i ? ", " : "") + by_prefix[i]->id.substr(0, 12);
    if (by_prefix.size() > 5) ids += ", …";
    return Status::InvalidArgument("snapshot prefix \"" + std::string(spec) + "\" is ambiguous (" +
                                   std::to_string(by_prefix.size()) + " snapshots match: " + ids + ")");
  }
  if (tagged) {
    SnapshotRef out = *tagged;
    out.tag_matches = tag_matches;
    return out;
  }
  return Status::NotFound("no snapshot matches \"" + std::string(spec) +
                          "\" (not an id, an id prefix of 4 or more hex digits, \"latest\" or a tag)");
}

int64_t SnapshotStartNs(const Snapshot& s) {
  const double duration_ns = s.stats.duration_s > 0 ? s.stats.duration_s * 1e9 : 0;
  return s.time_ns - static_cast<int64_t>(duration_ns);
}

Result<Tree> LoadTree(const Repository& repo, const BlobId& id) {
  RW_ASSIGN_OR_RETURN(std::string doc, repo.LoadBlob(id, BlobType::kTree));
  auto tree = DecodeTree(doc);
  if (!tree.ok()) return tree.status().WithContext("tree " + id.Short());
  return tree;
}

Result<std::shared_ptr<const Tree>> LoadTreeVia(const Repository& repo, TreeCache* cache, const BlobId& id) {
  if (cache) return cache->Get(id);
  RW_ASSIGN_OR_RETURN(Tree t, LoadTree(repo, id));
  return std::make_shared<const Tree>(std::move(t));
}

Result<TreeEntry> FindEntryBelow(const Repository& repo, TreeCache* cache, const BlobId& root,
                                 const std::string& path) {
  BlobId tree = root;
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    std::string comp = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    RW_ASSIGN_OR_RETURN(auto t, LoadTreeVia(repo, cache, tree));
    auto it = std::lower_bound(t->entries.begin(), t->entries.end(), comp,
                               [](const TreeEntry& e, const std::string& n) { return e.name < n; });
    if (it == t->entries.end() || it->name != comp) return Status::NotFound("no entry " + path + " in the snapshot");
    if (slash == std::string::npos) return *it;
    if (it->type != EntryType::kDir || !it->subtree) return Status::NotFound(path + ": not a directory in the snapshot");
    tree = *it->subtree;
    start = slash + 1;
  }
}

Status WalkTree(const Repository& repo, const BlobId& root, const std::string& prefix,
                const std::function<bool(const std::string&, const TreeEntry&)>& fn) {
  RW_ASSIGN_OR_RETURN(Tree tree, LoadTree(repo, root));
  for (const TreeEntry& e : tree.entries) {
    std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
    bool descend = fn(path, e);
    if (descend && e.type == EntryType::kDir && e.subtree) {
      RW_RETURN_IF_ERROR(WalkTree(repo, *e.subtree, path, fn));
    }
  }
  return Status::OK();
}

}  // namespace rw
