// Rule parsing and glob matching on raw bytes (syntax in excludes.h and docs/excludes.md).
// No regex: a rule compiles to one token list per path component, matched with the classic
// two-pointer backtracking algorithm at both levels (bytes within a component for '*',
// components within a path for "**"), so matching is polynomial in the worst case.
#include <string>

#include "excludes/glob_internal.h"

namespace rw {
namespace glob_internal {

namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

// Whether the byte at `pos` is escaped, i.e. preceded by an odd run of backslashes.
bool IsEscaped(std::string_view s, size_t pos) {
  size_t n = 0;
  while (n < pos && s[pos - 1 - n] == '\\') ++n;
  return n % 2 == 1;
}

std::string ByteForMessage(uint8_t b) {
  if (b >= 0x20 && b < 0x7f) return std::string("'") + static_cast<char>(b) + "'";
  static const char kDigits[] = "0123456789abcdef";
  return std::string("\\x") + kDigits[b >> 4] + kDigits[b & 15];
}

// POSIX bracket expressions ("[[:digit:]]"), ASCII only: names are raw bytes, not text in
// some locale.
bool IsDigit(int b) { return b >= '0' && b <= '9'; }
bool IsUpper(int b) { return b >= 'A' && b <= 'Z'; }
bool IsLower(int b) { return b >= 'a' && b <= 'z'; }
bool IsAlpha(int b) { return IsUpper(b) || IsLower(b); }
bool IsAlnum(int b) { return IsDigit(b) || IsAlpha(b); }
bool IsBlank(int b) { return b == ' ' || b == '\t'; }
bool IsCntrl(int b) { return b < 0x20 || b == 0x7f; }
bool IsGraph(int b) { return b > 0x20 && b < 0x7f; }
bool IsPrint(int b) { return b >= 0x20 && b < 0x7f; }
bool IsPunct(int b) { return IsGraph(b) && !IsAlnum(b); }
bool IsSpace(int b) { return b == ' ' || (b >= '\t' && b <= '\r'); }
bool IsXdigit(int b) { return IsDigit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'); }

bool AddPosixClass(std::string_view name, std::bitset<256>* set) {
  static const struct {
    std::string_view name;
    bool (*pred)(int);
  } kClasses[] = {
      {"alnum", IsAlnum}, {"alpha", IsAlpha}, {"blank", IsBlank}, {"cntrl", IsCntrl},
      {"digit", IsDigit}, {"graph", IsGraph}, {"lower", IsLower}, {"print", IsPrint},
      {"punct", IsPunct}, {"space", IsSpace}, {"upper", IsUpper}, {"xdigit", IsXdigit},
  };
  for (const auto& c : kClasses) {
    if (c.name != name) continue;
    for (int b = 0; b < 256; ++b) {
      if (c.pred(b)) set->set(b);
    }
    return true;
  }
  return false;
}

// Reads one possibly escaped byte of a class at body[*j], advancing *j past it.
Status ReadClassByte(std::string_view body, size_t* j, uint8_t* out) {
  if (body[*j] == '\\') {
    if (*j + 1 >= body.size()) return Status::InvalidArgument("unclosed '['");
    ++*j;
  }
  if (body[*j] == '/') {
    return Status::InvalidArgument("'/' inside [...] (a class matches within one component)");
  }
  *out = static_cast<uint8_t>(body[*j]);
  ++*j;
  return Status::OK();
}

// Parses the class that starts with the '[' at body[*i]; leaves *i on its closing ']'.
Status ParseClass(std::string_view body, size_t* i, std::bitset<256>* set) {
  size_t j = *i + 1;
  const size_t n = body.size();
  bool negate = false;
  if (j < n && (body[j] == '!' || body[j] == '^')) {
    negate = true;
    ++j;
  }
  for (bool first = true;; first = false) {
    if (j >= n) return Status::InvalidArgument("unclosed '['");
    if (body[j] == ']' && !first) break;
    if (body[j] == '[' && j + 1 < n && body[j + 1] == ':') {
      size_t end = body.find(":]", j + 2);
      if (end == std::string_view::npos) return Status::InvalidArgument("unclosed '[:'");
      std::string_view name = body.substr(j + 2, end - (j + 2));
      if (!AddPosixClass(name, set)) {
        return Status::InvalidArgument("unknown character class [:" + std::string(name) + ":]");
      }
      j = end + 2;
      continue;
    }
    uint8_t lo;
    RW_RETURN_IF_ERROR(ReadClassByte(body, &j, &lo));
    if (j + 1 < n && body[j] == '-' && body[j + 1] != ']') {
      ++j;
      uint8_t hi;
      RW_RETURN_IF_ERROR(ReadClassByte(body, &j, &hi));
      if (hi < lo) {
        return Status::InvalidArgument("reversed range " + ByteForMessage(lo) + "-" +
                                       ByteForMessage(hi) + " in [...]");
      }
      for (int b = lo; b <= hi; ++b) set->set(b);
    } else {
      set->set(lo);
    }
  }
  if (negate) set->flip();
  *i = j;
  return Status::OK();
}

}  // namespace

// Builds Segments from a rule body (after '!', the trailing '/' and the leading '/' are
// removed).
class SegmentBuilder {
 public:
  static Status Parse(std::string_view body, std::vector<Segment>* out) {
    SegmentBuilder b;
    for (size_t i = 0; i < body.size(); ++i) {
      char c = body[i];
      if (c == '/') {
        RW_RETURN_IF_ERROR(b.Finish(out));
        continue;
      }
      b.empty_ = false;
      if (c == '*') {
        ++b.stars_;
        // Consecutive stars match what one star does; keep one token.
        if (b.seg_.tokens_.empty() || b.seg_.tokens_.back().kind != Segment::Kind::kStar) {
          b.seg_.tokens_.push_back({Segment::Kind::kStar, 0, 0});
        }
        continue;
      }
      b.only_stars_ = false;
      if (c == '?') {
        b.seg_.tokens_.push_back({Segment::Kind::kAnyByte, 0, 0});
      } else if (c == '[') {
        std::bitset<256> set;
        RW_RETURN_IF_ERROR(ParseClass(body, &i, &set));
        b.seg_.classes_.push_back(set);
        b.seg_.tokens_.push_back(
            {Segment::Kind::kClass, 0, static_cast<uint32_t>(b.seg_.classes_.size() - 1)});
      } else {
        if (c == '\\') {
          if (i + 1 == body.size()) return Status::InvalidArgument("trailing backslash");
          c = body[++i];
          if (c == '/') return Status::InvalidArgument("'/' cannot be escaped");
        }
        b.seg_.tokens_.push_back({Segment::Kind::kLiteral, static_cast<uint8_t>(c), 0});
      }
    }
    return b.Finish(out);
  }

 // A segment matching any one component: "*".
  static Segment AnyName() {
    Segment seg;
    seg.tokens_.push_back({Segment::Kind::kStar, 0, 0});
    return seg;
  }

 private:
  Status Finish(std::vector<Segment>* out) {
    if (empty_) return Status::InvalidArgument("empty path component (\"//\")");
    seg_.double_star_ = only_stars_ && stars_ >= 2;
    out->push_back(std::move(seg_));
    *this = SegmentBuilder();
    return Status::OK();
  }

  Segment seg_;
  int stars_ = 0;
  bool only_stars_ = true;
  bool empty_ = true;
};

bool Segment::Matches(std::string_view name) const {
  const size_t m = tokens_.size();
  size_t p = 0, s = 0;
  size_t star_p = kNone, star_s = 0;
  auto token_matches = [this](const Token& t, uint8_t b) {
    switch (t.kind) {
      case Kind::kLiteral: return t.byte == b;
      case Kind::kAnyByte: return true;
      case Kind::kClass: return classes_[t.klass].test(b);
      case Kind::kStar: return false;
    }
    return false;
  };
  while (s < name.size()) {
    if (p < m && tokens_[p].kind == Kind::kStar) {
      star_p = p++;
      star_s = s;
    } else if (p < m && token_matches(tokens_[p], static_cast<uint8_t>(name[s]))) {
      ++p;
      ++s;
    } else if (star_p != kNone) {
      // Let the last star absorb one more byte and retry from there.
      p = star_p + 1;
      s = ++star_s;
    } else {
      return false;
    }
  }
  while (p < m && tokens_[p].kind == Kind::kStar) ++p;
  return p == m;
}

bool MatchComponents(const Pattern& pattern, const std::vector<std::string_view>& components) {
  const std::vector<Segment>& segs = pattern.segments;
  const size_t m = segs.size();
  size_t p = 0, s = 0;
  size_t star_p = kNone, star_s = 0;
  while (s < components.size()) {
    if (p < m && segs[p].double_star()) {
      star_p = p++;
      star_s = s;
    } else if (p < m && segs[p].Matches(components[s])) {
      ++p;
      ++s;
    } else if (star_p != kNone) {
      p = star_p + 1;
      s = ++star_s;
    } else {
      return false;
    }
  }
  while (p < m && segs[p].double_star()) ++p;
  return p == m;
}

Status ParseRule(std::string_view line, Pattern* out, bool* is_rule) {
  *is_rule = false;
  // Trailing spaces are dropped unless escaped ("foo\ " keeps one), as in gitignore.
  while (!line.empty() && line.back() == ' ' && !IsEscaped(line, line.size() - 1)) {
    line.remove_suffix(1);
  }
  if (line.empty() || line.front() == '#') return Status::OK();

  Pattern p;
  std::string_view body = line;
  if (body.front() == '!') {
    p.negated = true;
    body.remove_prefix(1);
    if (body.empty()) return Status::InvalidArgument("nothing after '!'");
  }
  if (body.back() == '/' && !IsEscaped(body, body.size() - 1)) {
    p.dir_only = true;
    body.remove_suffix(1);
  }
  if (!body.empty() && body.front() == '/') {
    p.anchored = true;
    body.remove_prefix(1);
  }
  if (body.empty()) return Status::InvalidArgument("no name to match");
  RW_RETURN_IF_ERROR(SegmentBuilder::Parse(body, &p.segments));
  if (p.segments.size() > 1) p.anchored = true;
  // A trailing "**" matches everything inside, but not the directory itself ("a/**" matches
  // "a/x", not "a"): it must match at least one component, so put a "*" before it.
  if (p.anchored && p.segments.back().double_star()) {
    p.segments.insert(p.segments.end() - 1, SegmentBuilder::AnyName());
  }
  *out = std::move(p);
  *is_rule = true;
  return Status::OK();
}

}  // namespace glob_internal
}  // namespace rw
