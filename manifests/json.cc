#include <array>
#include <algorithm>
#include <limits>

#include "engine/base/bytes.h"
#include "manifests/json_internal.h"

namespace rw {
namespace manifest_internal {

namespace {

Status Bad(const std::string& key, std::string_view problem) {
  return Status::Corruption(Quote(key) + " " + std::string(problem));
}

}  // namespace

std::string Quote(std::string_view s) { return QuoteBytes(s, 64); }

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

namespace {
// The value of each lowercase hex digit; 0xff for every other byte. Trees list every blob by
// its id in hex: this table parses them without a branch per character.
constexpr std::array<uint8_t, 256> kLowerHexValue = [] {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = static_cast<uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[static_cast<size_t>(c)] = static_cast<uint8_t>(c - 'a' + 10);
  return t;
}();
}  // namespace

bool ParseLowerHex(std::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != 2 * n) return false;
  uint8_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t hi = kLowerHexValue[static_cast<uint8_t>(hex[2 * i])];
    const uint8_t lo = kLowerHexValue[static_cast<uint8_t>(hex[2 * i + 1])];
    bad |= static_cast<uint8_t>(hi | lo);
    out[i] = static_cast<uint8_t>(hi << 4 | (lo & 0x0f));
  }
  return (bad & 0xf0) == 0;  // uppercase too: ids are lowercase
}

bool ParseBlobIdHex(std::string_view hex, BlobId* out) {
  BlobId id;
  if (!ParseLowerHex(hex, id.bytes.data(), id.bytes.size())) return false;
  *out = id;
  return true;
}

void PutBytes(Json* obj, const std::string& key, std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    (*obj)[key] = std::string(bytes);
  } else {
    (*obj)[key + "_hex"] = HexEncode(bytes);
  }
}

void PutBytesList(Json* obj, const std::string& key, const std::vector<std::string>& list) {
  bool utf8 = std::all_of(list.begin(), list.end(),
                          [](const std::string& s) { return IsValidUtf8(s); });
  Json arr = Json::array();
  for (const std::string& s : list) arr.push_back(utf8 ? s : HexEncode(s));
  (*obj)[utf8 ? key : key + "_hex"] = std::move(arr);
}

Status GetBytes(const Json& obj, const std::string& key, std::string* out, bool* found) {
  const std::string hex_key = key + "_hex";
  auto plain = obj.find(key);
  auto hex = obj.find(hex_key);
  if (found != nullptr) *found = plain != obj.end() || hex != obj.end();
  if (plain != obj.end() && hex != obj.end()) {
    return Status::Corruption("both " + Quote(key) + " and " + Quote(hex_key));
  }
  if (plain != obj.end()) {
    // The parser has already rejected strings that are not valid UTF-8.
    if (!plain->is_string()) return Bad(key, "is not a string");
    *out = plain->get_ref<const std::string&>();
  } else if (hex != obj.end()) {
    if (!hex->is_string()) return Bad(hex_key, "is not a string");
    const std::string& h = hex->get_ref<const std::string&>();
    std::optional<std::string> raw = IsLowerHex(h) ? HexDecode(h) : std::nullopt;
    if (!raw) return Bad(hex_key, "is not lowercase hex of even length");
    *out = std::move(*raw);
  }
  return Status::OK();
}

Status GetBytesList(const Json& obj, const std::string& key, std::vector<std::string>* out) {
  const std::string hex_key = key + "_hex";
  auto plain = obj.find(key);
  auto hex = obj.find(hex_key);
  if (plain != obj.end() && hex != obj.end()) {
    return Status::Corruption("both " + Quote(key) + " and " + Quote(hex_key));
  }
  const bool is_hex = hex != obj.end();
  auto it = is_hex ? hex : plain;
  if (it == obj.end()) return Status::OK();
  const std::string& k = is_hex ? hex_key : key;
  if (!it->is_array()) return Bad(k, "is not an array");
  std::vector<std::string> list;
  for (const Json& v : *it) {
    if (!v.is_string()) return Bad(k, "holds a non-string");
    const std::string& s = v.get_ref<const std::string&>();
    if (!is_hex) {
      list.push_back(s);
      continue;
    }
    std::optional<std::string> raw = IsLowerHex(s) ? HexDecode(s) : std::nullopt;
    if (!raw) return Bad(k, "holds a string that is not lowercase hex of even length");
    list.push_back(std::move(*raw));
  }
  *out = std::move(list);
  return Status::OK();
}

Status GetUint(const Json& obj, const std::string& key, uint64_t max, uint64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  uint64_t v;
  if (it->is_number_unsigned()) {
    v = it->get<uint64_t>();
  } else if (it->is_number_integer() && it->get<int64_t>() == 0) {
    v = 0;  // "-0"; other non-negative integers parse as unsigned
  } else {
    return Bad(key, "is not an unsigned integer");
  }
  if (v > max) return Bad(key, "is out of range");
  *out = v;
  return Status::OK();
}

Status GetInt64(const Json& obj, const std::string& key, int64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Bad(key, "is out of range");
    }
    *out = static_cast<int64_t>(v);
  } else if (it->is_number_integer()) {
    *out = it->get<int64_t>();
  } else {
    return Bad(key, "is not an integer");
  }
  return Status::OK();
}

Status GetBool(const Json& obj, const std::string& key, bool* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  if (!it->is_boolean()) return Bad(key, "is not a boolean");
  *out = it->get<bool>();
  return Status::OK();
}

Status GetDouble(const Json& obj, const std::string& key, double* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  if (!it->is_number()) return Bad(key, "is not a number");
  *out = it->get<double>();
  return Status::OK();
}

Status GetBlobId(const Json& obj, const std::string& key, std::optional<BlobId>* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  BlobId id;
  if (!it->is_string() || !ParseBlobIdHex(it->get_ref<const std::string&>(), &id)) {
    return Bad(key, "is not a blob id (64 lowercase hex digits)");
  }
  *out = id;
  return Status::OK();
}

Status GetXxh128(const Json& obj, const std::string& key, std::optional<Xxh128>* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  Xxh128 h;
  if (!it->is_string() || it->get_ref<const std::string&>().size() != 32 ||
      !IsLowerHex(it->get_ref<const std::string&>()) ||
      !Xxh128::FromHex(it->get_ref<const std::string&>(), &h)) {
    return Bad(key, "is not an XXH3-128 digest (32 lowercase hex digits)");
  }
  *out = h;
  return Status::OK();
}

Status CheckKnownKeys(const Json& obj, const std::vector<std::string_view>& known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!std::binary_search(known.begin(), known.end(), std::string_view(it.key()))) {
      return Status::Corruption("unknown key " + Quote(it.key()));
    }
  }
  return Status::OK();
}

Status Parse(std::string_view doc, Json* out) {
  try {
    *out = Json::parse(doc.begin(), doc.end());
  } catch (const Json::exception& e) {
    return Status::Corruption("not JSON: " + ExceptionText(e));
  }
  return Status::OK();
}

}  // namespace manifest_internal
}  // namespace rw
