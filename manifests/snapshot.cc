// Snapshot documents (docs/format.md §7). Canonical JSON like trees (sorted keys, no
// whitespace), every field written except absent optionals:
//
//   {"excludes":[...],"hostname":"h","incomplete":false,"parent":"<64 hex>",
//    "source":"/opt/icewarp","stats":{"blobs_added":0,...},"tags":["pre-epos"],
//    "time":"2026-11-25T10:31:07.123456789Z","time_ns":1795602667123456789,
//    "tool_version":"0.1.0","tree":"<64 hex>","username":"root","version":1}
//
// "databases" (absent when the snapshot holds none): [{"binlog_file":"…","binlog_position":N,
// "databases":["db",…],"gtid":"…","label":"default","max_statement_bytes":N (when recorded),
// "server_version":"…","tree":"<64 hex>"}].
//
// Byte strings follow json_internal.h ("source_hex", "excludes_hex", ... when not UTF-8).
// "time" is for humans; "time_ns" is authoritative and "time" is ignored when reading.
// Readers require "version" and "time_ns", give other missing keys their default value and
// ignore unknown keys, so fields can be added without a version change; a change of meaning
// bumps "version".
#include "manifests/snapshot.h"

#include <cmath>

#include "engine/base/clock.h"
#include "manifests/json_internal.h"

namespace rw {

using manifest_internal::Json;

namespace {

constexpr int kSnapshotVersion = 1;

// The counters of SnapshotStats, by key; duration_s is handled apart.
struct StatField {
  const char* key;
  uint64_t SnapshotStats::*field;
};
constexpr StatField kStatFields[] = {
    {"blobs_added", &SnapshotStats::blobs_added},
    {"bytes_added", &SnapshotStats::bytes_added},
    {"bytes_read", &SnapshotStats::bytes_read},
    {"bytes_total", &SnapshotStats::bytes_total},
    {"changed_during_read", &SnapshotStats::changed_during_read},
    {"dirs", &SnapshotStats::dirs},
    {"errors", &SnapshotStats::errors},
    {"excluded", &SnapshotStats::excluded},
    {"files", &SnapshotStats::files},
    {"others", &SnapshotStats::others},
    {"symlinks", &SnapshotStats::symlinks},
};

Status DecodeStats(const Json& j, SnapshotStats* stats) {
  auto it = j.find("stats");
  if (it == j.end()) return Status::OK();
  if (!it->is_object()) return Status::Corruption("\"stats\" is not an object");
  for (const StatField& f : kStatFields) {
    RW_RETURN_IF_ERROR(manifest_internal::GetUint(*it, f.key, UINT64_MAX, &(stats->*f.field))
                           .WithContext("stats"));
  }
  return manifest_internal::GetDouble(*it, "duration_s", &stats->duration_s).WithContext("stats");
}

Status DecodeDatabases(const Json& j, std::vector<DatabaseDump>* out) {
  namespace mi = manifest_internal;
  auto it = j.find("databases");
  if (it == j.end()) return Status::OK();
  if (!it->is_array()) return Status::Corruption("\"databases\" is not an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& d = (*it)[i];
    const std::string where = "databases[" + std::to_string(i) + "]";
    if (!d.is_object()) return Status::Corruption(where + " is not an object");
    DatabaseDump dump;
    bool found = false;
    RW_RETURN_IF_ERROR(mi::GetBytes(d, "label", &dump.label, &found).WithContext(where));
    if (!found || dump.label.empty()) return Status::Corruption(where + ": missing \"label\"");
    std::optional<BlobId> tree;
    RW_RETURN_IF_ERROR(mi::GetBlobId(d, "tree", &tree).WithContext(where));
    if (!tree) return Status::Corruption(where + ": missing \"tree\"");
    dump.tree = *tree;
    RW_RETURN_IF_ERROR(mi::GetBytes(d, "server_version", &dump.server_version, nullptr).WithContext(where));
    RW_RETURN_IF_ERROR(mi::GetBytes(d, "binlog_file", &dump.binlog_file, nullptr).WithContext(where));
    RW_RETURN_IF_ERROR(mi::GetUint(d, "binlog_position", UINT64_MAX, &dump.binlog_position).WithContext(where));
    RW_RETURN_IF_ERROR(mi::GetBytes(d, "gtid", &dump.gtid, nullptr).WithContext(where));
    RW_RETURN_IF_ERROR(mi::GetBytesList(d, "databases", &dump.databases).WithContext(where));
    RW_RETURN_IF_ERROR(mi::GetUint(d, "max_statement_bytes", UINT64_MAX, &dump.max_statement_bytes).WithContext(where));
    for (const DatabaseDump& other : *out) {
      if (other.label == dump.label) return Status::Corruption(where + ": label used twice");
    }
    out->push_back(std::move(dump));
  }
  return Status::OK();
}

Result<Snapshot> DecodeSnapshotOrThrow(std::string_view doc) {
  namespace mi = manifest_internal;
  Json j;
  RW_RETURN_IF_ERROR(mi::Parse(doc, &j));
  if (!j.is_object()) return Status::Corruption("not a JSON object");
  Snapshot s;
  auto version = j.find("version");
  if (version == j.end()) return Status::Corruption("missing \"version\"");
  if (!version->is_number_integer()) return Status::Corruption("\"version\" is not an integer");
  if (version->get<int64_t>() != kSnapshotVersion) {
    return Status::NotSupported("version " + version->dump() + " is not supported (this " +
                                "build reads version " + std::to_string(kSnapshotVersion) + ")");
  }
  s.version = kSnapshotVersion;
  if (j.find("time_ns") == j.end()) return Status::Corruption("missing \"time_ns\"");
  RW_RETURN_IF_ERROR(mi::GetInt64(j, "time_ns", &s.time_ns));
  RW_RETURN_IF_ERROR(mi::GetBytes(j, "hostname", &s.hostname, nullptr));
  RW_RETURN_IF_ERROR(mi::GetBytes(j, "username", &s.username, nullptr));
  RW_RETURN_IF_ERROR(mi::GetBytes(j, "tool_version", &s.tool_version, nullptr));
  RW_RETURN_IF_ERROR(mi::GetBytes(j, "source", &s.source, nullptr));
  RW_RETURN_IF_ERROR(mi::GetBytesList(j, "excludes", &s.excludes));
  RW_RETURN_IF_ERROR(mi::GetBytesList(j, "tags", &s.tags));
  if (auto it = j.find("parent"); it != j.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().size() != 64 ||
        !mi::IsLowerHex(it->get_ref<const std::string&>())) {
      return Status::Corruption("\"parent\" is not a snapshot id (64 lowercase hex digits)");
    }
    s.parent = it->get<std::string>();
  }
  RW_RETURN_IF_ERROR(mi::GetBlobId(j, "tree", &s.tree));
  RW_RETURN_IF_ERROR(mi::GetBool(j, "incomplete", &s.incomplete));
  RW_RETURN_IF_ERROR(mi::GetBytesList(j, "unread", &s.unread));
  if (auto it = j.find("root"); it != j.end()) {
    TreeEntry root;
    RW_RETURN_IF_ERROR(mi::DecodeEntryObject(*it, &root).WithContext("root"));
    if (root.type != EntryType::kDir || root.subtree) {
      return Status::Corruption("root: not a directory entry without subtree");
    }
    s.root = std::move(root);
  }
  RW_RETURN_IF_ERROR(DecodeStats(j, &s.stats));
  RW_RETURN_IF_ERROR(DecodeDatabases(j, &s.databases));
  return s;
}

}  // namespace

std::string EncodeSnapshot(const Snapshot& s) {
  namespace mi = manifest_internal;
  Json j = Json::object();
  j["version"] = s.version;
  j["time_ns"] = s.time_ns;
  j["time"] = FormatRfc3339Ns(s.time_ns);
  mi::PutBytes(&j, "hostname", s.hostname);
  mi::PutBytes(&j, "username", s.username);
  mi::PutBytes(&j, "tool_version", s.tool_version);
  mi::PutBytes(&j, "source", s.source);
  mi::PutBytesList(&j, "excludes", s.excludes);
  mi::PutBytesList(&j, "tags", s.tags);
  if (s.parent) mi::PutBytes(&j, "parent", *s.parent);
  if (s.tree) j["tree"] = s.tree->Hex();
  j["incomplete"] = s.incomplete;
  if (!s.unread.empty()) mi::PutBytesList(&j, "unread", s.unread);
  if (s.root) j["root"] = mi::EncodeEntryObject(*s.root);
  Json stats = Json::object();
  for (const StatField& f : kStatFields) stats[f.key] = s.stats.*f.field;
  // JSON has no NaN or infinity (nlohmann would write null): a broken duration becomes 0.
  stats["duration_s"] = std::isfinite(s.stats.duration_s) ? s.stats.duration_s : 0.0;
  j["stats"] = std::move(stats);
  if (!s.databases.empty()) {
    Json dbs = Json::array();
    for (const DatabaseDump& d : s.databases) {
      Json o = Json::object();
      mi::PutBytes(&o, "label", d.label);
      o["tree"] = d.tree.Hex();
      mi::PutBytes(&o, "server_version", d.server_version);
      mi::PutBytes(&o, "binlog_file", d.binlog_file);
      o["binlog_position"] = d.binlog_position;
      mi::PutBytes(&o, "gtid", d.gtid);
      mi::PutBytesList(&o, "databases", d.databases);
      // Only when recorded: documents of dumps without it keep their bytes.
      if (d.max_statement_bytes) o["max_statement_bytes"] = d.max_statement_bytes;
      dbs.push_back(std::move(o));
    }
    j["databases"] = std::move(dbs);
  }
  return j.dump();
}

Result<Snapshot> DecodeSnapshot(std::string_view doc) {
  try {
    Result<Snapshot> r = DecodeSnapshotOrThrow(doc);
    if (!r.ok()) return r.status().WithContext("snapshot");
    return r;
  } catch (const std::exception& e) {
    // Not expected (every access is type-checked first); the contract is no exceptions.
    return Status::Corruption("snapshot: " + ExceptionText(e));
  }
}

}  // namespace rw
