// Exclusion rules: gitignore-like patterns matched against paths relative to the backup
// source root. Pure logic, no I/O. Syntax (docs/excludes.md):
//   - blank lines and lines starting with '#' are ignored; "\#" and "\!" escape;
//   - a leading '!' negates: a later matching negated rule re-includes;
//   - a trailing '/' matches directories only;
//   - a pattern containing '/' (other than a trailing one) is anchored at the root; a leading
//     '/' only anchors; otherwise the pattern matches a name at any depth;
//   - '*' matches any run of bytes except '/', '?' one byte except '/', "[a-z]" / "[!a-z]"
//     classes; "**" as a whole component matches zero or more components;
//   - matching is on bytes and case-sensitive; trailing unescaped spaces are dropped.
// Paths are raw bytes, '/'-separated, without a leading '/': "config/mail", "mail".
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"

namespace rw {

struct ExcludeRule {
  std::string text;  // the rule as written, for reports
  std::string origin;  // "profile icewarp", "--exclude", "file X line N"
};

class ExcludeSet {
 public:
  ExcludeSet();
  ~ExcludeSet();
  ExcludeSet(ExcludeSet&&) noexcept;
  ExcludeSet& operator=(ExcludeSet&&) noexcept;

  // Adds one pattern; InvalidArgument naming the pattern and the problem (e.g. "[a-" unclosed).
  // A blank or comment line is accepted and adds no rule. The set is unchanged on error.
  Status Add(std::string_view pattern, std::string_view origin);
  // Adds each line of `text` ('\n'-separated, a trailing '\r' dropped) with origin
  // "<origin> line N", as for an exclude file. All or nothing: on the first bad line returns its
  // error and leaves the set unchanged.
  Status AddLines(std::string_view text, std::string_view origin);

  // Returns the index of the rule that decides that `path` is excluded (the last matching
  // rule, if it is not negated), or -1 when `path` is kept. `is_dir` tells whether the entry
  // is a directory. REQUIRES: the parents of `path` are not excluded (the caller never
  // descends into an excluded directory). Thread-safe (const).
  int Match(std::string_view path, bool is_dir) const;

  const std::vector<ExcludeRule>& rules() const;
  bool empty() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The rule that excludes exactly the directory at `path` (relative to the root, no leading or
// trailing '/'): anchored, directories only, every byte the syntax gives a meaning escaped.
std::string LiteralDirRule(std::string_view path);

// Names of shipped profiles ("icewarp").
std::vector<std::string> ProfileNames();
// Adds the rules of a shipped profile; NotFound listing the known profiles otherwise.
Status AddProfile(ExcludeSet* set, std::string_view profile);
// The rule lines of a profile, as shipped (excludes/profiles/<name>.rules).
Result<std::string> ProfileText(std::string_view profile);

}  // namespace rw
