// Internals of manifests/: typed access to nlohmann::json objects that never throws, and the
// conventions shared by tree and snapshot documents:
//   - byte strings (names, paths, targets) are a JSON string under `key` when valid UTF-8,
//     otherwise lowercase hex under `key + "_hex"`; lists of them likewise, the whole list under
//     `key + "_hex"` when any element is not valid UTF-8;
//   - blob ids are 64 and XXH3-128 digests 32 lowercase hex digits;
//   - integers are JSON numbers (exact in nlohmann::json for int64 and uint64).
// Readers return Corruption with the problem only ("\"mode\" is not an unsigned integer");
// callers add where (WithContext).
#pragma once

#include "manifests/tree.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"
#include "engine/format/blob_id.h"
#include "engine/format/checksum.h"

namespace rw {
namespace manifest_internal {

using Json = nlohmann::json;

// Bytes for a message: printable ASCII as is, other bytes as \xNN, quoted, at most 64 bytes.
std::string Quote(std::string_view bytes);

void PutBytes(Json* obj, const std::string& key, std::string_view bytes);
void PutBytesList(Json* obj, const std::string& key, const std::vector<std::string>& list);

// Each Get* leaves *out unchanged when the key is absent and sets *found (when given).
Status GetBytes(const Json& obj, const std::string& key, std::string* out, bool* found);
Status GetBytesList(const Json& obj, const std::string& key, std::vector<std::string>* out);
Status GetUint(const Json& obj, const std::string& key, uint64_t max, uint64_t* out);
Status GetInt64(const Json& obj, const std::string& key, int64_t* out);
Status GetBool(const Json& obj, const std::string& key, bool* out);
Status GetDouble(const Json& obj, const std::string& key, double* out);
Status GetBlobId(const Json& obj, const std::string& key, std::optional<BlobId>* out);
Status GetXxh128(const Json& obj, const std::string& key, std::optional<Xxh128>* out);

// Parses a BlobId from 64 lowercase hex digits; false otherwise.
bool ParseBlobIdHex(std::string_view hex, BlobId* out);
// `hex`, 2 * n lowercase hex digits, into n bytes; false for any other length or character.
bool ParseLowerHex(std::string_view hex, uint8_t* out, size_t n);
bool IsLowerHex(std::string_view s);

// Corruption naming the first key of `obj` that is not in `known` (sorted), if any.
Status CheckKnownKeys(const Json& obj, const std::vector<std::string_view>& known);

// Parses a JSON document; Corruption with the parser's message (byte offset) otherwise.
Status Parse(std::string_view doc, Json* out);

// One tree entry as a JSON object, and back (fields only; no name rules checked). Used for the
// snapshot's root entry. Defined in tree.cc.
Json EncodeEntryObject(const TreeEntry& e);
Status DecodeEntryObject(const Json& j, TreeEntry* e);

// DecodeTree through the JSON library alone (DecodeTree tries a fast reader of the canonical
// form first); exposed so that tests and the fuzz target check that both agree.
Result<Tree> DecodeTreeJson(std::string_view doc);
// EncodeTree through the JSON library (EncodeTree writes the same bytes directly).
std::string EncodeTreeJson(const Tree& tree);
// The fast reader alone: false when it gives up (the document may still be valid). Not validated.
bool DecodeTreeFast(std::string_view doc, Tree* out);

}  // namespace manifest_internal
}  // namespace rw
