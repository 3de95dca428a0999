// Splits SQL text into statements the way the stock mariadb/mysql client does for the dumps
// rewind writes: a statement ends at the current delimiter (";" or what a "DELIMITER x" line at
// the start of a statement sets) outside quotes ('…', "…", `…`) and comments (-- …, # …,
// /* … */; /*! … */ and /*M! … */ are kept as statement text). Statements made only of comments and blanks
// are dropped. Fed in pieces of any size.
// Like the client, which reads the session's sql_mode back from the server after each
// statement, it follows the SET SQL_MODE statements it passes: under NO_BACKSLASH_ESCAPES a
// backslash in a string is a plain character ('ends in \' is a whole string), and under
// ANSI_QUOTES (or a mode that implies it) "…" is an identifier, where a backslash never escapes.
// It also follows SET NAMES / SET CHARACTER SET / SET character_set_client: in sjis, cp932, big5,
// gbk and gb18030 the second byte of a character may be 0x5C or 0x60 ('表' in sjis is 95 5C),
// which is then part of the character, not a backslash or a backtick (as for the client).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace rw::db {

class SqlSplitter {
 public:
  using Sink = std::function<Status(std::string_view statement)>;
  explicit SqlSplitter(Sink sink) : sink_(std::move(sink)) {}
  Status Feed(std::string_view data);
  // The text after the last delimiter, if it holds a statement.
  Status Finish();

 private:
  Status Scan(bool eof);
  Status Emit(std::string_view statement);
  void FollowSet(std::string_view statement);
  // The length of the multi-byte character starting at buf_[at] in the client character set,
  // or 0 when it is a single byte (or no multi-byte set is in force).
  size_t MultiByteLength(size_t at) const;
  enum class State { kNormal, kSingle, kDouble, kBacktick, kLineComment, kBlockComment };
  Sink sink_;
  std::string buf_;
  size_t start_ = 0;  // start of the current statement in buf_
  size_t pos_ = 0;    // scan position
  State state_ = State::kNormal;
  bool content_ = false;  // the current statement has non-comment text
  std::string delimiter_ = ";";
  bool no_backslash_escapes_ = false;  // in force for '…' (and "…" strings)
  bool ansi_quotes_ = false;           // "…" is an identifier
  enum class MultiByte { kNone, kSjis, kBig5, kGbk, kGb18030 } multibyte_ = MultiByte::kNone;
};

}  // namespace rw::db
