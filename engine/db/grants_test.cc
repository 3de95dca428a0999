// AccountGrants (dump.h): SHOW GRANTS read as the server applies it. The server behaviour each
// case stands for was checked on MariaDB 10.11 (information_schema.TRIGGERS seen or not);
// tests/db/privileges.sh checks the backup against a real server.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/db/dump.h"

namespace rw::db {
namespace {

AccountGrants Parse(const std::vector<std::string>& lines, bool lower = false) {
  auto g = AccountGrants::Parse(lines, lower);
  EXPECT_TRUE(g.ok()) << g.status().message();
  return g.ok() ? *g : AccountGrants();
}

TEST(DatabasePattern, MatchesAsTheServer) {
  EXPECT_TRUE(DatabasePatternMatches("p%", "pv"));
  EXPECT_TRUE(DatabasePatternMatches("p_", "pv"));
  EXPECT_TRUE(DatabasePatternMatches("%", ""));
  EXPECT_TRUE(DatabasePatternMatches("%v%", "pv"));
  EXPECT_TRUE(DatabasePatternMatches("a%b%c", "aXbYbc"));
  EXPECT_FALSE(DatabasePatternMatches("p_", "p"));
  EXPECT_FALSE(DatabasePatternMatches("P%", "pv"));  // bytes: case-sensitive
  EXPECT_FALSE(DatabasePatternMatches("pv", "pvx"));
  EXPECT_TRUE(DatabasePatternMatches("a\\_b", "a_b"));
  EXPECT_FALSE(DatabasePatternMatches("a\\_b", "axb"));
  EXPECT_TRUE(DatabasePatternMatches("a\\%", "a%"));
  EXPECT_FALSE(DatabasePatternMatches("a\\%", "ab"));
}

TEST(DatabasePattern, RankOrdersRowsAsTheServerSortsThem) {
  EXPECT_EQ(DatabasePatternRank("pv"), 128);
  EXPECT_EQ(DatabasePatternRank("a\\_b"), 128);  // an escaped wildcard is a name
  EXPECT_EQ(DatabasePatternRank("p%"), 2);
  EXPECT_EQ(DatabasePatternRank("pv%"), 3);
  EXPECT_EQ(DatabasePatternRank("%"), 1);
  EXPECT_EQ(DatabasePatternRank(""), 0);
}

TEST(AccountGrants, ExactDatabaseRowHidesAPattern) {
  // The reviewer's case: TRIGGER on `p%`.* does not reach pv, whose own row lacks it.
  auto g = Parse({"GRANT RELOAD ON *.* TO `bk`@`localhost` IDENTIFIED BY PASSWORD '*8BE1'",
                  "GRANT SELECT, LOCK TABLES, SHOW VIEW, EVENT ON `pv`.* TO `bk`@`localhost`",
                  "GRANT TRIGGER ON `p%`.* TO `bk`@`localhost`"});
  std::string why;
  EXPECT_FALSE(g.OnTable({"TRIGGER"}, "pv", "t", &why));
  EXPECT_NE(why.find("ON `p%`.* does not count"), std::string::npos) << why;
  EXPECT_TRUE(g.OnTable({"TRIGGER"}, "px", "t"));  // no row of its own: the pattern applies
  // The other way round: the exact row decides, a pattern without it does not take it away.
  auto h = Parse({"GRANT SELECT, TRIGGER ON `pv`.* TO `bk`@`localhost`", "GRANT SELECT ON `p%`.* TO `bk`@`localhost`"});
  EXPECT_TRUE(h.OnDatabase({"TRIGGER"}, "pv"));
  EXPECT_FALSE(h.OnDatabase({"TRIGGER"}, "px"));
}

TEST(AccountGrants, LaterWildcardFirstTiesRequireBoth) {
  auto e = Parse({"GRANT SELECT ON `pv%`.* TO `e`@`localhost`", "GRANT TRIGGER ON `p%`.* TO `e`@`localhost`"});
  EXPECT_FALSE(e.OnDatabase({"TRIGGER"}, "pv"));
  auto f = Parse({"GRANT TRIGGER ON `pv%`.* TO `f`@`localhost`", "GRANT SELECT ON `p%`.* TO `f`@`localhost`"});
  EXPECT_TRUE(f.OnDatabase({"TRIGGER"}, "pv"));
  // Same rank: which one the server takes is not relied upon.
  auto t = Parse({"GRANT TRIGGER ON `p_`.* TO `t`@`localhost`", "GRANT SELECT ON `p%`.* TO `t`@`localhost`"});
  std::string why;
  EXPECT_FALSE(t.OnDatabase({"TRIGGER"}, "pv", &why));
  EXPECT_NE(why.find("may take"), std::string::npos) << why;
  auto both = Parse({"GRANT TRIGGER ON `p_`.* TO `t`@`localhost`", "GRANT TRIGGER ON `p%`.* TO `t`@`localhost`"});
  EXPECT_TRUE(both.OnDatabase({"TRIGGER"}, "pv"));
}

TEST(AccountGrants, CaseSensitiveUnlessLowerCaseTableNames) {
  const std::vector<std::string> lines = {"GRANT TRIGGER ON `PV`.* TO `i`@`localhost`",
                                          "GRANT TRIGGER ON `Q`.`T` TO `i`@`localhost`"};
  EXPECT_FALSE(Parse(lines).OnDatabase({"TRIGGER"}, "pv"));
  EXPECT_FALSE(Parse(lines).OnTable({"TRIGGER"}, "q", "t"));
  EXPECT_TRUE(Parse(lines, true).OnDatabase({"TRIGGER"}, "pv"));
  EXPECT_TRUE(Parse(lines, true).OnTable({"TRIGGER"}, "q", "t"));
}

TEST(AccountGrants, RolesAndPublicGrantOnTheirOwn) {
  // SHOW GRANTS of an account with default role r_o, which holds r_i.
  auto g = Parse({"GRANT `r_o` TO `m`@`localhost`",
                  "GRANT USAGE ON *.* TO `m`@`localhost` IDENTIFIED BY PASSWORD '*C994'",
                  "GRANT SELECT ON `pv`.* TO `m`@`localhost`",
                  "GRANT `r_i` TO `r_o`",
                  "GRANT USAGE ON *.* TO `r_o`",
                  "GRANT TRIGGER ON `pv`.* TO `r_o`",
                  "GRANT USAGE ON *.* TO `r_i`",
                  "GRANT EXECUTE ON `p%`.* TO `r_i`",
                  "GRANT EVENT ON `pv`.`t` TO PUBLIC",
                  "SET DEFAULT ROLE `r_o` FOR `m`@`localhost`"});
  EXPECT_TRUE(g.OnTable({"TRIGGER"}, "pv", "t"));      // the role's row, not hidden by the account's
  EXPECT_FALSE(g.OnDatabase({"EXECUTE"}, "pv"));       // the roles are merged: r_o's pv.* hides r_i's `p%`.*
  EXPECT_TRUE(g.OnDatabase({"EXECUTE"}, "px"));
  EXPECT_TRUE(g.OnTable({"EVENT"}, "pv", "t"));        // PUBLIC's
  EXPECT_FALSE(g.OnTable({"EVENT"}, "pv", "u"));
  auto p = Parse({"GRANT TRIGGER ON `p%`.* TO `p`@`localhost`", "GRANT SELECT ON `pv`.* TO PUBLIC"});
  EXPECT_TRUE(p.OnDatabase({"TRIGGER"}, "pv"));  // PUBLIC's row does not hide the account's
}

TEST(AccountGrants, Levels) {
  auto g = Parse({"GRANT SELECT, RELOAD, TRIGGER ON *.* TO `bk2`@`localhost`"});
  EXPECT_TRUE(g.OnTable({"TRIGGER"}, "any", "t"));
  EXPECT_TRUE(g.Global({"SELECT"}));
  EXPECT_FALSE(g.Global({"EXECUTE"}));
  auto all = Parse({"GRANT ALL PRIVILEGES ON `own`.* TO `owner`@`localhost`"});
  EXPECT_TRUE(all.OnDatabase({"EXECUTE", "ALTER ROUTINE", "CREATE ROUTINE"}, "own"));
  EXPECT_FALSE(all.Global({"SELECT"}));
  // Column privileges grant nothing on the table; a USAGE … WITH GRANT OPTION row still hides a pattern.
  auto c = Parse({"GRANT SELECT (`id`, `a,b`), INSERT ON `pv`.`t` TO `c`@`localhost`",
                  "GRANT USAGE ON `pv`.* TO `c`@`localhost` WITH GRANT OPTION",
                  "GRANT TRIGGER ON `p%`.* TO `c`@`localhost`"});
  EXPECT_TRUE(c.OnTable({"INSERT"}, "pv", "t"));
  EXPECT_FALSE(c.OnTable({"SELECT"}, "pv", "t"));
  EXPECT_FALSE(c.OnTable({"TRIGGER"}, "pv", "t"));
  // Routine grants, proxies: nothing asked about. Quoted names with `` and a dot.
  auto r = Parse({"GRANT EXECUTE ON PROCEDURE `pv`.`pr` TO `r`@`%`",
                  "GRANT PROXY ON ''@'%' TO `r`@`%` WITH GRANT OPTION",
                  "GRANT TRIGGER ON `we``ird.db`.* TO `r`@`%`"});
  EXPECT_FALSE(r.OnDatabase({"EXECUTE"}, "pv"));
  EXPECT_TRUE(r.OnDatabase({"TRIGGER"}, "we`ird.db"));
  // MySQL's partial revokes take a global privilege away from one database.
  auto m = Parse({"GRANT SELECT, TRIGGER ON *.* TO `u`@`%`", "REVOKE TRIGGER ON `pv`.* FROM `u`@`%`"});
  EXPECT_FALSE(m.OnTable({"TRIGGER"}, "pv", "t"));
  EXPECT_TRUE(m.OnTable({"TRIGGER"}, "px", "t"));
}

TEST(AccountGrants, UnreadableLineIsAnError) {
  EXPECT_FALSE(AccountGrants::Parse({"GRANT SELECT ON `pv` TO `u`@`%`"}, false).ok());
  EXPECT_FALSE(AccountGrants::Parse({"GRANT SELECT ON `pv`.* TO"}, false).ok());
  EXPECT_FALSE(AccountGrants::Parse({"GRANT SELECT ON `unterminated.* TO `u`@`%`"}, false).ok());
  EXPECT_TRUE(AccountGrants::Parse({"SET DEFAULT ROLE `r` FOR `u`@`%`", "GRANT `r` TO `u`@`%`"}, false).ok());
}

}  // namespace
}  // namespace rw::db
