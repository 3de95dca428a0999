#include "excludes/excludes.h"

#include <algorithm>

#include "engine/base/bytes.h"
#include "excludes/glob_internal.h"
#include "excludes/profiles_internal.h"

namespace rw {

namespace {

// A rule for a message: printable ASCII as is, other bytes as \xNN, at most 200 bytes.
std::string Quote(std::string_view s) { return QuoteBytes(s, 200); }

// Splits a relative path into its components, skipping empty ones ("a//b", a leading '/').
void SplitPath(std::string_view path, std::vector<std::string_view>* out) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out->push_back(path.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

struct ExcludeSet::Impl {
  std::vector<ExcludeRule> rules;
  std::vector<glob_internal::Pattern> patterns;  // parallel to `rules`
};

ExcludeSet::ExcludeSet() : impl_(std::make_unique<Impl>()) {}
ExcludeSet::~ExcludeSet() = default;
ExcludeSet::ExcludeSet(ExcludeSet&&) noexcept = default;
ExcludeSet& ExcludeSet::operator=(ExcludeSet&&) noexcept = default;

Status ExcludeSet::Add(std::string_view pattern, std::string_view origin) {
  glob_internal::Pattern p;
  bool is_rule = false;
  Status s = glob_internal::ParseRule(pattern, &p, &is_rule);
  if (!s.ok()) {
    std::string where = origin.empty() ? "" : " (" + std::string(origin) + ")";
    return Status::InvalidArgument("exclude rule " + Quote(pattern) + where + ": " +
                                   s.message());
  }
  if (!is_rule) return Status::OK();
  impl_->rules.push_back({std::string(pattern), std::string(origin)});
  impl_->patterns.push_back(std::move(p));
  return Status::OK();
}

Status ExcludeSet::AddLines(std::string_view text, std::string_view origin) {
  const size_t old_size = impl_->rules.size();
  size_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_no;
    Status s = Add(line, std::string(origin) + " line " + std::to_string(line_no));
    if (!s.ok()) {
      impl_->rules.resize(old_size);
      impl_->patterns.resize(old_size);
      return s;
    }
    start = end + 1;
  }
  return Status::OK();
}

int ExcludeSet::Match(std::string_view path, bool is_dir) const {
  const auto& patterns = impl_->patterns;
  if (patterns.empty()) return -1;
  std::vector<std::string_view> components;
  SplitPath(path, &components);
  if (components.empty()) return -1;  // the root itself is never excluded
  const std::string_view name = components.back();
  // The last matching rule decides.
  for (size_t i = patterns.size(); i-- > 0;) {
    const glob_internal::Pattern& p = patterns[i];
    if (p.dir_only && !is_dir) continue;
    bool hit = p.anchored ? glob_internal::MatchComponents(p, components)
                          : p.segments.front().Matches(name);
    if (hit) return p.negated ? -1 : static_cast<int>(i);
  }
  return -1;
}

const std::vector<ExcludeRule>& ExcludeSet::rules() const { return impl_->rules; }
bool ExcludeSet::empty() const { return impl_->rules.empty(); }

std::vector<std::string> ProfileNames() {
  std::vector<std::string> names;
  for (size_t i = 0; i < kShippedProfileCount; ++i) names.emplace_back(kShippedProfiles[i].name);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> ProfileText(std::string_view profile) {
  for (size_t i = 0; i < kShippedProfileCount; ++i) {
    if (kShippedProfiles[i].name == profile) return std::string(kShippedProfiles[i].text);
  }
  std::string known;
  for (const std::string& n : ProfileNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::NotFound("exclude profile " + Quote(profile) + " is unknown (known: " + known +
                          ")");
}

std::string LiteralDirRule(std::string_view path) {
  std::string rule = "/";
  for (char c : path) {
    if (c == '\\' || c == '*' || c == '?' || c == '[' || c == ' ' || c == '#' || c == '!') rule += '\\';
    rule += c;
  }
  return rule + "/";
}

Status AddProfile(ExcludeSet* set, std::string_view profile) {
  Result<std::string> text = ProfileText(profile);
  if (!text.ok()) return text.status();
  return set->AddLines(*text, "profile " + std::string(profile));
}

}  // namespace rw
