// The shipped exclusion profiles, embedded at build time from excludes/profiles/<name>.rules
// (excludes/CMakeLists.txt generates the definitions from profiles.cc.in).
#pragma once

#include <cstddef>
#include <string_view>

namespace rw {

struct ShippedProfile {
  std::string_view name;  // "icewarp"
  std::string_view text;  // the file's bytes, as shipped
};

extern const ShippedProfile kShippedProfiles[];
extern const size_t kShippedProfileCount;

}  // namespace rw
