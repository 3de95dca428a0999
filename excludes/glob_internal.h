// Internals of excludes/: one exclusion rule compiled to a matcher on raw path bytes.
// Not part of the module's public surface; excludes.h is.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"

namespace rw {
namespace glob_internal {

// The pattern of one path component ("*.log", "[a-z]?", "**"), compiled to tokens.
class Segment {
 public:
  enum class Kind : uint8_t { kLiteral, kAnyByte, kStar, kClass };
  struct Token {
    Kind kind;
    uint8_t byte;    // kLiteral
    uint32_t klass;  // kClass: index into classes_
  };

  // Whether `name` (one component, no '/') matches. Worst case O(|name| * |tokens|): a
  // mismatch after a '*' backtracks only to the most recent '*' (the classic two-pointer
  // algorithm), never exponentially.
  bool Matches(std::string_view name) const;

  // True when the component is "**" (two or more unescaped stars and nothing else): it
  // matches zero or more whole components. Its tokens are a single kStar, so Matches()
  // treats it as "*" where it stands for one component.
  bool double_star() const { return double_star_; }

 private:
  friend class SegmentBuilder;
  std::vector<Token> tokens_;
  std::vector<std::bitset<256>> classes_;
  bool double_star_ = false;
};

// One parsed rule line.
struct Pattern {
  std::vector<Segment> segments;  // one per '/'-separated component, never empty
  bool negated = false;           // leading '!'
  bool dir_only = false;          // trailing '/'
  bool anchored = false;          // leading '/' or a '/' inside: matched against the whole path
};

// Parses one rule line. Sets *is_rule = false (and returns OK) for a blank or comment line.
// On a syntax error returns InvalidArgument with the problem only ("unclosed '['"); the caller
// names the pattern.
Status ParseRule(std::string_view line, Pattern* out, bool* is_rule);

// Whether an anchored pattern matches the whole path given as its components (none empty).
// Worst case O(|components| * |segments| * component match).
bool MatchComponents(const Pattern& pattern, const std::vector<std::string_view>& components);

}  // namespace glob_internal
}  // namespace rw
