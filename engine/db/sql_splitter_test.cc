#include "engine/db/sql_splitter.h"

#include <gtest/gtest.h>

#include "engine/db/load.h"

#include <string>
#include <vector>

namespace rw::db {
namespace {

std::vector<std::string> Split(const std::string& text, size_t piece) {
  std::vector<std::string> out;
  SqlSplitter s([&](std::string_view st) {
    out.emplace_back(st);
    return Status::OK();
  });
  for (size_t i = 0; i < text.size(); i += piece) EXPECT_TRUE(s.Feed(text.substr(i, piece)).ok());
  EXPECT_TRUE(s.Finish().ok());
  for (auto& st : out) {
    while (!st.empty() && (st.front() == '\n' || st.front() == ' ')) st.erase(0, 1);
  }
  return out;
}

// The same statements whatever the sizes of the pieces the text is fed in.
void ExpectSplitsInAnyPieces(const std::string& text, const std::vector<std::string>& want) {
  for (size_t piece : {1, 2, 3, 7, 64, 100000}) {
    EXPECT_EQ(Split(text, piece), want) << "piece " << piece;
  }
}

TEST(SqlSplitter, QuotesCommentsAndDelimiters) {
  const std::string text =
      "-- header; not a statement\n"
      "SET NAMES utf8mb4;\n"
      "INSERT INTO `a;b` VALUES ('x;\\';y','it''s;',\"d;\\\"q\");\n"
      "/* plain; comment */\n"
      "/*!40101 SET x=1 */;\n"
      "/*M!100201 SET y=0 */;\n"
      "/*Mx; not executable */\n"
      "# hash; comment\n"
      "DELIMITER ;;\n"
      "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END ;;\n"
      "DELIMITER ;\n"
      "SELECT 3;\n"
      "SELECT 4";
  const std::vector<std::string> want = {
      "-- header; not a statement\nSET NAMES utf8mb4",  // comments stay with their statement
      "INSERT INTO `a;b` VALUES ('x;\\';y','it''s;',\"d;\\\"q\")",
      "/* plain; comment */\n/*!40101 SET x=1 */",
      "/*M!100201 SET y=0 */",
      "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END ",
      "SELECT 3",
      "SELECT 4",
  };
  ExpectSplitsInAnyPieces(text, want);
}

// routines.sql sets each routine's own sql_mode before it: under NO_BACKSLASH_ESCAPES a string
// may end in a backslash ('ends in \'), and under ANSI_QUOTES "…" is an identifier, where a
// backslash does not escape either. The client follows the session's mode; so does the splitter.
TEST(SqlSplitter, FollowsTheSqlModeForBackslashesAndDoubleQuotes) {
  const std::string text =
      "SET SQL_MODE='STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES';\n"
      "DELIMITER ;;\n"
      "CREATE PROCEDURE p() BEGIN SELECT 'ends in \\'; SELECT 'x;y'; END ;;\n"
      "DELIMITER ;\n"
      "SELECT \"dq \\\";\n"
      "SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO';\n"
      "SELECT 'it\\'s; one';\n"
      "SET @@SESSION.sql_mode = 'ANSI_QUOTES';\n"
      "SELECT 1 AS \"a\\\", 'b\\';c';\n"
      "/*!50003 SET sql_mode = 'no_backslash_escapes' */;\n"
      "SELECT 'z\\';\n"
      "SET SESSION sql_mode='';\n"
      "SELECT \"q\\\";\";\n";
  const std::vector<std::string> want = {
      "SET SQL_MODE='STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES'",
      "CREATE PROCEDURE p() BEGIN SELECT 'ends in \\'; SELECT 'x;y'; END ",
      "SELECT \"dq \\\"",
      "SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'",
      "SELECT 'it\\'s; one'",
      "SET @@SESSION.sql_mode = 'ANSI_QUOTES'",
      "SELECT 1 AS \"a\\\", 'b\\';c'",
      "/*!50003 SET sql_mode = 'no_backslash_escapes' */",
      "SELECT 'z\\'",
      "SET SESSION sql_mode=''",
      "SELECT \"q\\\";\"",
  };
  ExpectSplitsInAnyPieces(text, want);
}

// A routine made by an sjis (big5, gbk, gb18030) client is dumped in that set after SET
// character_set_client: the second byte of a character may be 0x5C or 0x60 ('表' is 95 5C in
// sjis), part of the character and not a backslash or a backtick, as the client reads it.
TEST(SqlSplitter, FollowsTheClientCharacterSetForMultiByteCharacters) {
  const std::string text =
      "SET character_set_client=sjis;\n"
      "SELECT '\x95\x5c';\n"                // sjis 表: ends in 0x5C
      "SELECT `\x81\x60` FROM t;\n"         // sjis 〜 in an identifier: ends in 0x60
      "SET NAMES big5;\n"
      "SELECT '\xa4\x5c', \"\xa5\x5c\";\n"  // big5 characters ending in 0x5C
      "/*!40101 SET character_set_client = gbk */;\n"
      "SELECT '\x81\x5c';\n"
      "SET NAMES gb18030 COLLATE gb18030_chinese_ci;\n"
      "SELECT '\x81\x30\x81\x30\x81\x5c';\n"  // a 4-byte and a 2-byte character
      "SET NAMES utf8mb4;\n"
      "SELECT 'it\\'s; one';\n";              // back to bytes: the backslash escapes
  const std::vector<std::string> want = {
      "SET character_set_client=sjis",
      "SELECT '\x95\x5c'",
      "SELECT `\x81\x60` FROM t",
      "SET NAMES big5",
      "SELECT '\xa4\x5c', \"\xa5\x5c\"",
      "/*!40101 SET character_set_client = gbk */",
      "SELECT '\x81\x5c'",
      "SET NAMES gb18030 COLLATE gb18030_chinese_ci",
      "SELECT '\x81\x30\x81\x30\x81\x5c'",
      "SET NAMES utf8mb4",
      "SELECT 'it\\'s; one'",
  };
  ExpectSplitsInAnyPieces(text, want);
}

}  // namespace
}  // namespace rw::db

#include "engine/db/sql_file.h"

#include <stdlib.h>

#include <filesystem>
#include <random>

#include "engine/format/checksum.h"
#include "engine/repo/repository.h"

namespace rw::db {
namespace {

TEST(SqlEscape, EscapesWhatTheClientLibraryEscapes) {
  std::string out;
  AppendSqlEscaped(std::string("a'b\"c\\d\ne\rf\0g\x1ah \xc3\xa9\xf0\x9f\x98\x80", 22), &out);
  EXPECT_EQ(out, std::string("a\\'b\\\"c\\\\d\\ne\\rf\\0g\\Zh \xc3\xa9\xf0\x9f\x98\x80"));
  out.clear();
  AppendSqlEscaped("", &out);
  EXPECT_EQ(out, "");
}

// The escape scan goes sixteen bytes at a time: every special byte at every offset of strings
// around those block sizes, between plain ASCII and UTF-8 bytes, escapes as the byte-wise rule.
TEST(SqlEscape, EverySpecialByteAtEveryOffsetMatchesTheBytewiseRule) {
  auto reference = [](std::string_view s) {
    std::string out;
    for (char c : s) {
      switch (c) {
        case '\0': out += "\\0"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\\': out += "\\\\"; break;
        case '\'': out += "\\'"; break;
        case '"': out += "\\\""; break;
        case 26: out += "\\Z"; break;
        default: out += c;
      }
    }
    return out;
  };
  const std::string specials("\0\n\r\\'\"\x1a", 7);
  const std::string fillers("a\t\x1b\x7f\xc3\xa9 9", 8);  // near misses: tab, ESC, DEL, UTF-8
  size_t checked = 0;
  for (size_t len : {1, 15, 16, 17, 31, 32, 33, 47, 64, 100}) {
    for (size_t at = 0; at < len; ++at) {
      for (char sp : specials) {
        std::string s;
        for (size_t i = 0; i < len; ++i) s += fillers[(i * 7 + len) % fillers.size()];
        s[at] = sp;
        if (at + 5 < len) s[at + 5] = specials[(at + len) % specials.size()];  // a second one
        std::string out = "prefix:";
        AppendSqlEscaped(s, &out);
        ASSERT_EQ(out, "prefix:" + reference(s)) << "length " << len << ", special at " << at;
        ++checked;
      }
    }
    std::string plain(len, 'x');
    std::string out;
    AppendSqlEscaped(plain, &out);
    EXPECT_EQ(out, plain);
  }
  EXPECT_GT(checked, 2000u);
}

// SqlFileWriter stores what was appended, cut exactly where the chunker cuts the whole text,
// however the text arrives: many small appends with a Pump after each (the search resumes),
// appends around the pump threshold, one append of everything.
TEST(SqlFileWriter, ChunksAreTheWholeTextsChunksForAnyAppendPattern) {
  char tmpl[] = "/tmp/rewind-sqlfile-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_TRUE(Repository::Init(dir + "/repo").ok());
  auto opened = Repository::Open(dir + "/repo");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto repo = std::move(*opened);
  // Text-like bytes with some repetition, several MiB.
  std::mt19937_64 rng(21);
  std::string text;
  while (text.size() < (3u << 20) + 12345) {
    text += "INSERT INTO t VALUES (" + std::to_string(rng() % 100000) + ",'";
    for (int i = 0, n = static_cast<int>(rng() % 300); i < n; ++i) text += static_cast<char>('a' + rng() % 26);
    text += "');\n";
  }
  const ChunkerParams params{4096, 16384, 65536};  // many chunks
  const Chunker chunker(params);
  std::vector<BlobId> expected;
  for (size_t off = 0; off < text.size();) {
    size_t cut = chunker.FindBoundary(reinterpret_cast<const uint8_t*>(text.data()) + off, text.size() - off, true);
    ASSERT_GT(cut, 0u);
    expected.push_back(Sha256(std::string_view(text).substr(off, cut)));
    off += cut;
  }
  ASSERT_GT(expected.size(), 100u);
  BlobSink blobs(repo.get());
  SharedSink sink(&blobs, params, 1, 2);
  const std::vector<size_t> max_pieces = {100, SqlFileWriter::kPumpBytes - 1, SqlFileWriter::kPumpBytes + 1,
                                          300 << 10, text.size()};
  for (size_t max_piece : max_pieces) {
    SqlFileWriter w(&sink);
    for (size_t off = 0; off < text.size();) {
      size_t piece = std::min(text.size() - off, 1 + rng() % max_piece);
      w.Append(std::string_view(text).substr(off, piece));
      off += piece;
      ASSERT_TRUE(w.Pump().ok());
      ASSERT_EQ(w.size(), off);
    }
    auto e = w.Finish("t.sql");
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->size, text.size()) << "pieces up to " << max_piece;
    EXPECT_EQ(e->xxh128, Xxh3_128(text)) << "pieces up to " << max_piece;
    EXPECT_EQ(e->content, expected) << "pieces up to " << max_piece;
  }
  ASSERT_TRUE(sink.Drain().ok());
  ASSERT_TRUE(blobs.Commit().ok());
  std::string stored;
  for (const BlobId& id : expected) {
    auto raw = repo->LoadBlob(id, BlobType::kData);
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    stored += *raw;
  }
  EXPECT_TRUE(stored == text);
  std::filesystem::remove_all(dir);
}

TEST(EncodeName, PercentEncodesOnlyWhatTreesForbid) {
  EXPECT_EQ(EncodeName("users"), "users");
  EXPECT_EQ(EncodeName("slash/and.dot"), "slash%2Fand.dot");
  EXPECT_EQ(EncodeName("100%"), "100%25");
  EXPECT_EQ(EncodeName(".hidden"), "%2Ehidden");
  EXPECT_EQ(EncodeName("my db-2026"), "my db-2026");
  EXPECT_EQ(EncodeName("日本語"), "日本語");
}

TEST(CreatedObject, NamesTheObjectOfACreateStatement) {
  EXPECT_EQ(CreatedObject("\nCREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW "
                          "`a`.`m ``x` AS select 1"),
            "view `m ``x`");
  EXPECT_EQ(CreatedObject("-- rewind: views\nCREATE DEFINER=`u`@`%` TRIGGER users_ai AFTER INSERT ON t FOR EACH ROW"),
            "trigger `users_ai`");
  EXPECT_EQ(CreatedObject("CREATE DEFINER=`root`@`localhost` FUNCTION `quota_of`(uid BIGINT) RETURNS bigint"),
            "function `quota_of`");
  EXPECT_EQ(CreatedObject("CREATE DEFINER=`root`@`localhost` EVENT `purge` ON SCHEDULE EVERY 1 DAY"), "event `purge`");
  // Packages, as SHOW CREATE writes them under sql_mode=ORACLE (ANSI_QUOTES).
  EXPECT_EQ(CreatedObject("CREATE DEFINER=\"root\"@\"localhost\" PACKAGE BODY \"quota\" AS\n  FUNCTION f RETURN INT;"),
            "package body `quota`");
  EXPECT_EQ(CreatedObject("CREATE DEFINER=\"root\"@\"localhost\" PACKAGE \"a\"\"b\" AS\n  PROCEDURE p;"),
            "package `a\"b`");
  EXPECT_EQ(CreatedObject("DROP VIEW IF EXISTS `v`"), "");
  EXPECT_EQ(CreatedObject("SET SQL_MODE=''"), "");
}

TEST(ObjectDefiner, ReadsTheDefinerClauseOfTheHeadOnly) {
  std::string user, host;
  ASSERT_TRUE(ObjectDefiner("\nCREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW "
                            "`a`.`v` AS select 1", &user, &host));
  EXPECT_EQ(user, "root");
  EXPECT_EQ(host, "localhost");
  ASSERT_TRUE(ObjectDefiner("-- x\nCREATE DEFINER=`o``k`@`%` TRIGGER t BEFORE INSERT ON t FOR EACH ROW SET @a=1",
                            &user, &host));
  EXPECT_EQ(user, "o`k");
  EXPECT_EQ(host, "%");
  ASSERT_TRUE(ObjectDefiner("CREATE DEFINER=`role` PROCEDURE `p`() SELECT 1", &user, &host));
  EXPECT_EQ(user, "role");
  EXPECT_EQ(host, "");
  // Double quotes: an object made under ANSI_QUOTES (a package under sql_mode=ORACLE).
  ASSERT_TRUE(ObjectDefiner("CREATE DEFINER=\"own\"\"er\"@\"localhost\" PACKAGE BODY \"quota\" AS", &user, &host));
  EXPECT_EQ(user, "own\"er");
  EXPECT_EQ(host, "localhost");
  // A DEFINER= in the body is not the object's.
  EXPECT_FALSE(ObjectDefiner("CREATE PROCEDURE `p`() SELECT 'CREATE DEFINER=`x`@`y` VIEW'", &user, &host));
  EXPECT_FALSE(ObjectDefiner("CREATE DEFINER=CURRENT_USER FUNCTION `f`() RETURNS INT RETURN 1", &user, &host));
  EXPECT_FALSE(ObjectDefiner("DROP VIEW IF EXISTS `v`", &user, &host));
}

TEST(IsOlderDumpSqlMode, OnlyTheHeaderOfOlderSchemaAndDataFiles) {
  EXPECT_TRUE(IsOlderDumpSqlMode("\nSET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'"));
  EXPECT_FALSE(IsOlderDumpSqlMode("\nSET SQL_MODE='NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES'"));
  EXPECT_FALSE(IsOlderDumpSqlMode("SET SQL_MODE=''"));
  EXPECT_FALSE(IsOlderDumpSqlMode("INSERT INTO t VALUES ('SET SQL_MODE=''NO_AUTO_VALUE_ON_ZERO''')"));
}

TEST(MayDefineForOthers, GlobalSuperSetUserOrAll) {
  EXPECT_TRUE(MayDefineForOthers({"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"}));
  EXPECT_TRUE(MayDefineForOthers({"GRANT USAGE ON *.* TO `o`@`localhost`", "GRANT SET USER ON *.* TO `r`"}));
  EXPECT_TRUE(MayDefineForOthers({"GRANT SELECT, SUPER ON *.* TO `o`@`localhost`"}));
  EXPECT_FALSE(MayDefineForOthers({"GRANT USAGE ON *.* TO `o`@`localhost` IDENTIFIED BY PASSWORD '*AB'",
                                   "GRANT ALL PRIVILEGES ON `app`.* TO `o`@`localhost`", "GRANT `r` TO `o`@`localhost`"}));
}

TEST(EncodeTableFileName, NoTableLooksLikeAnotherTablesPart) {
  EXPECT_EQ(EncodeTableFileName("users"), "users");
  EXPECT_EQ(EncodeTableFileName("big.000001"), "big%2E000001");
  EXPECT_EQ(EncodeTableFileName("slash/and.dot"), "slash%2Fand%2Edot");
  EXPECT_EQ(EncodeTableFileName(".hidden"), "%2Ehidden");
  EXPECT_EQ(EncodeTableFileName("100%.x"), "100%25%2Ex");
}

}  // namespace
}  // namespace rw::db
