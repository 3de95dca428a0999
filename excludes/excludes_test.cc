#include "excludes/excludes.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace rw {
namespace {

// A set holding the given rules; fails the test on a bad rule.
ExcludeSet Rules(std::initializer_list<std::string_view> rules) {
  ExcludeSet set;
  for (std::string_view r : rules) {
    Status s = set.Add(r, "test");
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return set;
}

bool ExcludesFile(const ExcludeSet& set, std::string_view path) {
  return set.Match(path, /*is_dir=*/false) >= 0;
}
bool ExcludesDir(const ExcludeSet& set, std::string_view path) {
  return set.Match(path, /*is_dir=*/true) >= 0;
}

TEST(IcewarpProfile, ExcludesExactlyTheSevenTopLevelDirectories) {
  ExcludeSet set;
  ASSERT_TRUE(AddProfile(&set, "icewarp").ok());
  const char* kExcluded[] = {"mail", "logs", "archive", "mailqueue", "temp", "php", "var"};
  ASSERT_EQ(set.rules().size(), 7u);
  for (const char* dir : kExcluded) {
    int rule = set.Match(dir, /*is_dir=*/true);
    ASSERT_GE(rule, 0) << dir;
    EXPECT_EQ(set.rules()[rule].text, "/" + std::string(dir) + "/");
    EXPECT_EQ(set.rules()[rule].origin.rfind("profile icewarp line ", 0), 0u)
        << set.rules()[rule].origin;
  }
}

TEST(IcewarpProfile, KeepsEverythingElse) {
  ExcludeSet set;
  ASSERT_TRUE(AddProfile(&set, "icewarp").ok());
  for (const char* dir : {"config", "calendar", "spam", "html", "lib64", "config/mail",
                          "html/temp", "config/_webmail", "mail2", "Mail", "logs.old", "spam/var",
                          "calendar/archive/php"}) {
    EXPECT_FALSE(ExcludesDir(set, dir)) << dir;
  }
  // Directory-only rules: a top-level *file* named like an excluded folder is kept.
  for (const char* file : {"mail", "logs", "var", "mail.txt", "path.dat", "icewarpd.sh",
                           "config/mail", "html/temp"}) {
    EXPECT_FALSE(ExcludesFile(set, file)) << file;
  }
}

TEST(IcewarpProfile, EmbeddedTextIsTheShippedFile) {
  std::ifstream in(std::string(REWIND_EXCLUDES_PROFILE_DIR) + "/icewarp.rules",
                   std::ios::binary);
  ASSERT_TRUE(in.good());
  std::stringstream file;
  file << in.rdbuf();
  Result<std::string> text = ProfileText("icewarp");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, file.str());
}

TEST(Profiles, NamesAndUnknownProfile) {
  std::vector<std::string> names = ProfileNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "icewarp"), names.end());
  ExcludeSet set;
  Status s = AddProfile(&set, "exchange");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find("\"exchange\""), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("icewarp"), std::string::npos) << s.message();
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(ProfileText("exchange").ok());
}

TEST(Syntax, UnanchoredNameMatchesAtAnyDepth) {
  ExcludeSet set = Rules({"*.log"});
  EXPECT_TRUE(ExcludesFile(set, "a.log"));
  EXPECT_TRUE(ExcludesFile(set, "logs/smtp/2026.log"));
  EXPECT_TRUE(ExcludesDir(set, "x/old.log"));
  EXPECT_TRUE(ExcludesFile(set, ".log"));
  EXPECT_FALSE(ExcludesFile(set, "a.log.1"));
  EXPECT_FALSE(ExcludesFile(set, "a.logx"));
  EXPECT_FALSE(ExcludesFile(set, "log"));
}

TEST(Syntax, LeadingSlashAnchorsAtRoot) {
  ExcludeSet set = Rules({"/x"});
  EXPECT_TRUE(ExcludesFile(set, "x"));
  EXPECT_TRUE(ExcludesDir(set, "x"));
  EXPECT_FALSE(ExcludesFile(set, "a/x"));
  EXPECT_FALSE(ExcludesFile(set, "xx"));
}

TEST(Syntax, InnerSlashAnchors) {
  ExcludeSet set = Rules({"a/b"});
  EXPECT_TRUE(ExcludesFile(set, "a/b"));
  EXPECT_FALSE(ExcludesFile(set, "x/a/b"));
  EXPECT_FALSE(ExcludesFile(set, "b"));
  EXPECT_FALSE(ExcludesFile(set, "a/b/c"));  // parents are the caller's business
}

TEST(Syntax, StarAndQuestionMarkStayWithinAComponent) {
  ExcludeSet set = Rules({"a/*", "q?z"});
  EXPECT_TRUE(ExcludesFile(set, "a/b"));
  EXPECT_FALSE(ExcludesFile(set, "a/b/c"));
  EXPECT_FALSE(ExcludesFile(set, "a"));
  EXPECT_TRUE(ExcludesFile(set, "qxz"));
  EXPECT_FALSE(ExcludesFile(set, "qz"));
  EXPECT_FALSE(ExcludesFile(set, "q/z"));
}

TEST(Syntax, LeadingDoubleStar) {
  ExcludeSet set = Rules({"**/foo"});
  EXPECT_TRUE(ExcludesFile(set, "foo"));
  EXPECT_TRUE(ExcludesFile(set, "a/foo"));
  EXPECT_TRUE(ExcludesFile(set, "a/b/foo"));
  EXPECT_FALSE(ExcludesFile(set, "foox"));
  EXPECT_FALSE(ExcludesFile(set, "a/foo/b"));
}

TEST(Syntax, InnerDoubleStar) {
  ExcludeSet set = Rules({"a/**/b"});
  EXPECT_TRUE(ExcludesFile(set, "a/b"));
  EXPECT_TRUE(ExcludesFile(set, "a/x/b"));
  EXPECT_TRUE(ExcludesFile(set, "a/x/y/b"));
  EXPECT_FALSE(ExcludesFile(set, "a/xb"));
  EXPECT_FALSE(ExcludesFile(set, "x/a/b"));
  EXPECT_FALSE(ExcludesFile(set, "a/b/c"));
  EXPECT_FALSE(ExcludesFile(set, "b"));
}

TEST(Syntax, TrailingDoubleStarMatchesInsideOnly) {
  ExcludeSet set = Rules({"a/**"});
  EXPECT_TRUE(ExcludesFile(set, "a/x"));
  EXPECT_TRUE(ExcludesDir(set, "a/x/y"));
  EXPECT_FALSE(ExcludesDir(set, "a"));
  EXPECT_FALSE(ExcludesFile(set, "b/a/x"));
  ExcludeSet all = Rules({"/**"});
  EXPECT_TRUE(ExcludesFile(all, "z"));
  EXPECT_TRUE(ExcludesFile(all, "z/y"));
}

TEST(Syntax, MoreStarsInAComponent) {
  ExcludeSet set = Rules({"x/***/y", "a**b"});
  EXPECT_TRUE(ExcludesFile(set, "x/y"));  // "***" is "**"
  EXPECT_TRUE(ExcludesFile(set, "x/1/2/y"));
  EXPECT_TRUE(ExcludesFile(set, "axyzb"));  // inside a name, "**" is "*"
  EXPECT_TRUE(ExcludesFile(set, "d/ab"));
  EXPECT_FALSE(ExcludesFile(set, "a/b"));
}

TEST(Syntax, TrailingSlashMatchesDirectoriesOnly) {
  ExcludeSet set = Rules({"cache/", "/t/*/"});
  EXPECT_TRUE(ExcludesDir(set, "cache"));
  EXPECT_TRUE(ExcludesDir(set, "a/b/cache"));
  EXPECT_FALSE(ExcludesFile(set, "cache"));
  EXPECT_TRUE(ExcludesDir(set, "t/x"));
  EXPECT_FALSE(ExcludesFile(set, "t/x"));
}

TEST(Syntax, Classes) {
  ExcludeSet set = Rules({"[abc].txt", "n[0-9][!0-9]", "m[^a-y]", "[]]", "k[a-]", "[[:digit:]]d",
                          "e[\\]x]"});
  for (const char* yes : {"a.txt", "c.txt", "n5x", "mz", "m!", "]", "ka", "k-", "7d", "e]", "ex"}) {
    EXPECT_TRUE(ExcludesFile(set, yes)) << yes;
  }
  for (const char* no : {"d.txt", "n55", "nx5", "ma", "my", "kb", "xd", "e\\", "[]]"}) {
    EXPECT_FALSE(ExcludesFile(set, no)) << no;
  }
}

TEST(Syntax, LastMatchingRuleDecides) {
  ExcludeSet set = Rules({"*.log", "!keep.log", "/logs/"});
  EXPECT_EQ(set.Match("x.log", false), 0);
  EXPECT_EQ(set.Match("keep.log", false), -1);
  EXPECT_EQ(set.Match("a/keep.log", false), -1);
  EXPECT_EQ(set.Match("logs", true), 2);

  ExcludeSet reversed = Rules({"!keep.log", "*.log"});
  EXPECT_EQ(reversed.Match("keep.log", false), 1);

  ExcludeSet reinclude = Rules({"/logs/", "!/logs/"});
  EXPECT_EQ(reinclude.Match("logs", true), -1);
}

TEST(Syntax, Escapes) {
  ExcludeSet set = Rules({"\\#hash", "\\!bang", "\\*", "a\\?", "sp\\ ", "trail  ", "b\\[x]"});
  EXPECT_EQ(set.rules().size(), 7u);
  EXPECT_TRUE(ExcludesFile(set, "#hash"));
  EXPECT_TRUE(ExcludesFile(set, "!bang"));
  EXPECT_TRUE(ExcludesFile(set, "*"));
  EXPECT_FALSE(ExcludesFile(set, "x"));
  EXPECT_TRUE(ExcludesFile(set, "a?"));
  EXPECT_FALSE(ExcludesFile(set, "ab"));
  EXPECT_TRUE(ExcludesFile(set, "sp "));
  EXPECT_FALSE(ExcludesFile(set, "sp"));
  EXPECT_TRUE(ExcludesFile(set, "trail"));  // unescaped trailing spaces are dropped
  EXPECT_FALSE(ExcludesFile(set, "trail  "));
  EXPECT_TRUE(ExcludesFile(set, "b[x]"));
  EXPECT_FALSE(ExcludesFile(set, "bx"));
}

TEST(Syntax, CommentsAndBlankLinesAddNoRule) {
  ExcludeSet set;
  EXPECT_TRUE(set.Add("# a comment", "test").ok());
  EXPECT_TRUE(set.Add("", "test").ok());
  EXPECT_TRUE(set.Add("   ", "test").ok());
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(set.Match("# a comment", false), -1);
}

TEST(Syntax, BadPatternsAreRejectedNamingThePattern) {
  struct Case {
    const char* pattern;
    const char* problem;
  } cases[] = {
      {"[a-", "unclosed '['"},
      {"!", "nothing after '!'"},
      {"x[", "unclosed '['"},
      {"[!]", "unclosed '['"},
      {"a//b", "empty path component"},
      {"foo\\", "trailing backslash"},
      {"[z-a]", "reversed range 'z'-'a'"},
      {"[[:letter:]]", "unknown character class [:letter:]"},
      {"[a/b]", "'/' inside [...]"},
      {"a\\/b", "'/' cannot be escaped"},
      {"/", "no name to match"},
      {"!/", "no name to match"},
  };
  for (const Case& c : cases) {
    ExcludeSet set = Rules({"/mail/"});
    Status s = set.Add(c.pattern, "--exclude");
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.pattern;
    std::string quoted = "\"";
    for (const char* p = c.pattern; *p; ++p) quoted += (*p == '\\' ? "\\\\" : std::string(1, *p));
    quoted += "\"";
    EXPECT_NE(s.message().find(quoted), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.problem), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("--exclude"), std::string::npos) << s.message();
    EXPECT_EQ(set.rules().size(), 1u) << c.pattern;
  }
}

TEST(Syntax, AddLinesIsAllOrNothing) {
  ExcludeSet set = Rules({"/mail/"});
  Status s = set.AddLines("a\r\n# comment\n\n[b\nc\n", "file excl.txt");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("file excl.txt line 4"), std::string::npos) << s.message();
  EXPECT_EQ(set.rules().size(), 1u);

  ASSERT_TRUE(set.AddLines("a\r\n# comment\n\nc", "file excl.txt").ok());
  ASSERT_EQ(set.rules().size(), 3u);
  EXPECT_EQ(set.rules()[1].text, "a");
  EXPECT_EQ(set.rules()[2].origin, "file excl.txt line 4");
  EXPECT_EQ(set.Match("x/a", false), 1);
}

TEST(Bytes, NonUtf8NamesMatchByteByByte) {
  ExcludeSet set = Rules({"*.txt", "d/?", "lat\xe9?", "[\x80-\xff]x"});
  EXPECT_TRUE(ExcludesFile(set, "\xff\xfe.txt"));
  EXPECT_TRUE(ExcludesFile(set, "d/\xff"));
  EXPECT_FALSE(ExcludesFile(set, "d/\xc3\xa9"));  // '?' is one byte, not one character
  EXPECT_TRUE(ExcludesFile(set, "lat\xe9\x01"));
  EXPECT_TRUE(ExcludesFile(set, "\xc3x"));
  EXPECT_FALSE(ExcludesFile(set, "ax"));
  ExcludeSet star = Rules({"*"});
  EXPECT_TRUE(ExcludesFile(star, std::string("\x00\xff", 2)));
}

TEST(Paths, RootAndUnusualSeparatorsAreTolerated) {
  ExcludeSet set = Rules({"/a/b", "**"});
  EXPECT_EQ(set.Match("", true), -1);  // the root itself is never excluded
  EXPECT_EQ(set.Match("/a//b", false), 1);
  ExcludeSet anchored = Rules({"/a/b"});
  EXPECT_EQ(anchored.Match("/a//b", false), 0);
}

TEST(Performance, NoExponentialBacktracking) {
  // With naive recursive backtracking these take exponential time; the two-pointer
  // algorithm is quadratic at worst (the ctest timeout catches a regression).
  std::string name(5000, 'a');
  ExcludeSet set = Rules({"*a*a*a*a*a*a*a*a*a*a*a*a*b"});
  EXPECT_FALSE(ExcludesFile(set, name));
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "a/";
  deep += "c";
  ExcludeSet stars = Rules({"**/a/**/a/**/a/**/a/**/a/**/a/**/b"});
  EXPECT_FALSE(ExcludesFile(stars, deep));
  EXPECT_TRUE(ExcludesFile(stars, deep.substr(0, deep.size() - 1) + "b"));
}

TEST(ExcludeSet, MoveKeepsRules) {
  ExcludeSet a = Rules({"x"});
  ExcludeSet b = std::move(a);
  EXPECT_EQ(b.Match("x", false), 0);
  ExcludeSet c;
  c = std::move(b);
  EXPECT_EQ(c.rules().size(), 1u);
}

// LiteralDirRule excludes exactly that directory, whatever bytes its path holds, and nothing
// that only looks like it.
TEST(LiteralDirRule, MatchesExactlyThatDirectory) {
  for (std::string path : {"backups/repo", "a b/c*d/[x]?", "#hash/!bang", "back\\slash", "trail "}) {
    ExcludeSet set;
    const std::string rule = LiteralDirRule(path);
    ASSERT_TRUE(set.Add(rule, "test").ok()) << rule;
    EXPECT_EQ(set.Match(path, true), 0) << rule;
    EXPECT_EQ(set.Match(path, false), -1) << rule << ": directories only";
    EXPECT_EQ(set.Match(path + "x", true), -1) << rule;
    EXPECT_EQ(set.Match("other/" + path, true), -1) << rule << ": anchored";
  }
  ExcludeSet star;
  ASSERT_TRUE(star.Add(LiteralDirRule("c*d"), "test").ok());
  EXPECT_EQ(star.Match("cxd", true), -1);
}

}  // namespace
}  // namespace rw
