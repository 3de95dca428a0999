// Splits SQL text into statements the way the stock mariadb/mysql client does for the dumps
// rewind writes: a statement ends at the current delimiter (";" or what a "DELIMITER x" line at
// the start of a statement sets) outside quotes ('…', "…", `…`) and comments (-- …, # …,
// /* … */; /*! … */ and /*M! … */ are kept as statement text). Statements made only of comments and blanks
// are dropped. Fed in pieces of any size.
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
  enum class State { kNormal, kSingle, kDouble, kBacktick, kLineComment, kBlockComment };
  Sink sink_;
  std::string buf_;
  size_t start_ = 0;  // start of the current statement in buf_
  size_t pos_ = 0;    // scan position
  State state_ = State::kNormal;
  bool content_ = false;  // the current statement has non-comment text
  std::string delimiter_ = ";";
};

}  // namespace rw::db
