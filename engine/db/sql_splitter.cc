#include "engine/db/sql_splitter.h"

#include <algorithm>
#include <cctype>
#include <strings.h>

namespace rw::db {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Consumes `word` (case-insensitive) at the start of `s`.
bool Eat(std::string_view* s, std::string_view word) {
  if (s->size() < word.size() || strncasecmp(s->data(), word.data(), word.size()) != 0) return false;
  s->remove_prefix(word.size());
  return true;
}

void SkipSpace(std::string_view* s) {
  while (!s->empty() && IsSpace(s->front())) s->remove_prefix(1);
}

// Case-insensitive equality.
bool Is(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

// `statement` may set what the splitter follows (as the dumps write it, possibly inside
// /*!NNNNN … */ as mariadb-dump does):
//   SET [SESSION |@@SESSION.|@@]SQL_MODE = '…'                  the modes after it;
//   SET NAMES x [COLLATE y], SET CHARACTER SET x,
//   SET [SESSION |@@SESSION.|@@]character_set_client = x        the client character set.
void SqlSplitter::FollowSet(std::string_view s) {
  SkipSpace(&s);
  if (Eat(&s, "/*!")) {
    while (!s.empty() && std::isdigit(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    SkipSpace(&s);
  }
  if (!Eat(&s, "SET") || s.empty() || !IsSpace(s.front())) return;
  SkipSpace(&s);
  bool charset = Eat(&s, "NAMES") || Eat(&s, "CHARACTER SET") || Eat(&s, "CHARSET");
  bool sql_mode = false;
  if (!charset) {
    if (!Eat(&s, "@@SESSION.") && !Eat(&s, "@@")) {
      if (Eat(&s, "SESSION") && !s.empty() && IsSpace(s.front())) SkipSpace(&s);
    }
    sql_mode = Eat(&s, "SQL_MODE");
    charset = !sql_mode && Eat(&s, "character_set_client");
    if (!sql_mode && !charset) return;
    SkipSpace(&s);
    if (!Eat(&s, "=")) return;
  }
  SkipSpace(&s);
  if (sql_mode) {
    if (s.empty() || (s.front() != '\'' && s.front() != '"')) return;
    const char q = s.front();
    s.remove_prefix(1);
    const size_t end = s.find(q);
    if (end == std::string_view::npos) return;
    bool nbe = false, ansi = false;
    std::string_view modes = s.substr(0, end);
    while (!modes.empty()) {
      const size_t comma = modes.find(',');
      const std::string_view m = modes.substr(0, comma);
      if (Is(m, "NO_BACKSLASH_ESCAPES")) nbe = true;
      // The combination modes that include ANSI_QUOTES (the server expands them; this is in case).
      for (std::string_view a : {"ANSI_QUOTES", "ANSI", "ORACLE", "DB2", "MSSQL", "POSTGRESQL", "MAXDB"}) {
        if (Is(m, a)) ansi = true;
      }
      modes = comma == std::string_view::npos ? std::string_view() : modes.substr(comma + 1);
    }
    no_backslash_escapes_ = nbe;
    ansi_quotes_ = ansi;
    return;
  }
  if (!s.empty() && (s.front() == '\'' || s.front() == '"' || s.front() == '`')) s.remove_prefix(1);
  size_t end = 0;
  while (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_')) ++end;
  const std::string_view cs = s.substr(0, end);
  if (Is(cs, "sjis") || Is(cs, "cp932")) multibyte_ = MultiByte::kSjis;
  else if (Is(cs, "big5")) multibyte_ = MultiByte::kBig5;
  else if (Is(cs, "gbk")) multibyte_ = MultiByte::kGbk;
  else if (Is(cs, "gb18030")) multibyte_ = MultiByte::kGb18030;
  else if (end > 0) multibyte_ = MultiByte::kNone;  // utf8mb4, latin1, ujis, euckr, …: no such trail bytes
}

size_t SqlSplitter::MultiByteLength(size_t at) const {
  const auto c = static_cast<unsigned char>(buf_[at]);
  switch (multibyte_) {
    case MultiByte::kNone: return 0;
    case MultiByte::kSjis: return (c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC) ? 2 : 0;
    case MultiByte::kBig5: return c >= 0xA1 && c <= 0xF9 ? 2 : 0;
    case MultiByte::kGbk: return c >= 0x81 && c <= 0xFE ? 2 : 0;
    case MultiByte::kGb18030: {
      if (c < 0x81 || c > 0xFE) return 0;
      // Four bytes when the second is a digit (0x30-0x39), else two.
      if (at + 1 < buf_.size() && buf_[at + 1] >= 0x30 && buf_[at + 1] <= 0x39) return 4;
      return 2;
    }
  }
  return 0;
}

Status SqlSplitter::Emit(std::string_view statement) {
  FollowSet(statement);
  return sink_(statement);
}

Status SqlSplitter::Feed(std::string_view data) {
  buf_.append(data);
  return Scan(false);
}

Status SqlSplitter::Finish() {
  RW_RETURN_IF_ERROR(Scan(true));
  if (content_ && start_ < buf_.size()) {
    RW_RETURN_IF_ERROR(Emit(std::string_view(buf_).substr(start_)));
  }
  buf_.clear();
  start_ = pos_ = 0;
  content_ = false;
  state_ = State::kNormal;
  return Status::OK();
}

Status SqlSplitter::Scan(bool eof) {
  const size_t n = buf_.size();
  const char* b = buf_.data();
  while (pos_ < n) {
    char c = b[pos_];
    switch (state_) {
      case State::kNormal: {
        if (!content_) {
          // At the start of a statement: a DELIMITER command line?
          if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ++pos_;
            continue;
          }
          if ((c == 'd' || c == 'D') && (pos_ == 0 || b[pos_ - 1] == '\n')) {
            if (n - pos_ < 10 && !eof) goto need_more;
            if (n - pos_ >= 10 && strncasecmp(b + pos_, "delimiter", 9) == 0 &&
                (b[pos_ + 9] == ' ' || b[pos_ + 9] == '\t')) {
              size_t eol = buf_.find('\n', pos_);
              if (eol == std::string::npos) {
                if (!eof) goto need_more;
                eol = n;
              }
              std::string d(b + pos_ + 10, eol - pos_ - 10);
              while (!d.empty() && std::isspace(static_cast<unsigned char>(d.back()))) d.pop_back();
              while (!d.empty() && std::isspace(static_cast<unsigned char>(d.front()))) d.erase(0, 1);
              if (d.empty()) return Status::Corruption("DELIMITER without a delimiter");
              delimiter_ = d;
              pos_ = start_ = eol < n ? eol + 1 : n;
              continue;
            }
          }
        }
        if (size_t mb = MultiByteLength(pos_); mb > 0) {
          if (pos_ + mb > n && !eof) goto need_more;
          pos_ = std::min(n, pos_ + mb);
          content_ = true;
          continue;
        }
        if (c == delimiter_[0]) {
          if (n - pos_ < delimiter_.size()) {
            if (!eof) goto need_more;
          } else if (buf_.compare(pos_, delimiter_.size(), delimiter_) == 0) {
            if (content_) RW_RETURN_IF_ERROR(Emit(std::string_view(b + start_, pos_ - start_)));
            pos_ += delimiter_.size();
            start_ = pos_;
            content_ = false;
            continue;
          }
        }
        if (c == '\'') { state_ = State::kSingle; content_ = true; }
        else if (c == '"') { state_ = State::kDouble; content_ = true; }
        else if (c == '`') { state_ = State::kBacktick; content_ = true; }
        else if (c == '#') { state_ = State::kLineComment; }
        else if (c == '-' ) {
          if (pos_ + 2 >= n && !eof) goto need_more;
          if (pos_ + 2 < n && b[pos_ + 1] == '-' &&
              (b[pos_ + 2] == ' ' || b[pos_ + 2] == '\t' || b[pos_ + 2] == '\n' || b[pos_ + 2] == '\r')) {
            state_ = State::kLineComment;
          } else {
            content_ = true;
          }
        } else if (c == '/') {
          if (pos_ + 3 >= n && !eof) goto need_more;
          if (pos_ + 1 < n && b[pos_ + 1] == '*') {
            // Executable comments: /*!NNNNN … */, and MariaDB's own /*M!NNNNN … */.
            if (pos_ + 2 < n && (b[pos_ + 2] == '!' || (b[pos_ + 2] == 'M' && pos_ + 3 < n && b[pos_ + 3] == '!'))) {
              content_ = true;
            }
            state_ = State::kBlockComment;
            pos_ += 2;
            continue;
          }
          content_ = true;
        } else {
          content_ = true;
        }
        ++pos_;
        break;
      }
      case State::kSingle:
      case State::kDouble: {
        char q = state_ == State::kSingle ? '\'' : '"';
        const char escape = no_backslash_escapes_ || (q == '"' && ansi_quotes_) ? q : '\\';
        // Fast path: skip to the next quote or backslash (where it escapes), or the next
        // character of two or more bytes in a multi-byte client set.
        const bool mb = multibyte_ != MultiByte::kNone;
        while (pos_ < n && b[pos_] != q && b[pos_] != escape && !(mb && static_cast<unsigned char>(b[pos_]) >= 0x80)) {
          ++pos_;
        }
        if (pos_ >= n) break;
        if (size_t len = MultiByteLength(pos_); len > 0) {
          if (pos_ + len > n && !eof) goto need_more;
          pos_ = std::min(n, pos_ + len);
          break;
        }
        if (b[pos_] != q && b[pos_] != escape) {  // a byte >= 0x80 that starts no character of two
          ++pos_;
          break;
        }
        if (b[pos_] == '\\') {
          if (pos_ + 1 >= n) {
            if (!eof) goto need_more;
            ++pos_;
            break;
          }
          pos_ += 2;
          break;
        }
        // A quote: doubled quote continues the string.
        if (pos_ + 1 >= n && !eof) goto need_more;
        if (pos_ + 1 < n && b[pos_ + 1] == q) {
          pos_ += 2;
          break;
        }
        state_ = State::kNormal;
        ++pos_;
        break;
      }
      case State::kBacktick: {
        const bool mb = multibyte_ != MultiByte::kNone;
        while (pos_ < n && b[pos_] != '`' && !(mb && static_cast<unsigned char>(b[pos_]) >= 0x80)) ++pos_;
        if (pos_ >= n) break;
        if (size_t len = MultiByteLength(pos_); len > 0) {
          if (pos_ + len > n && !eof) goto need_more;
          pos_ = std::min(n, pos_ + len);
          break;
        }
        if (b[pos_] != '`') {
          ++pos_;
          break;
        }
        if (pos_ + 1 >= n && !eof) goto need_more;
        if (pos_ + 1 < n && b[pos_ + 1] == '`') {
          pos_ += 2;
          break;
        }
        state_ = State::kNormal;
        ++pos_;
        break;
      }
      case State::kLineComment:
        while (pos_ < n && b[pos_] != '\n') ++pos_;
        if (pos_ < n) {
          state_ = State::kNormal;
          ++pos_;
        }
        break;
      case State::kBlockComment:
        while (pos_ + 1 < n && !(b[pos_] == '*' && b[pos_ + 1] == '/')) ++pos_;
        if (pos_ + 1 < n) {
          state_ = State::kNormal;
          pos_ += 2;
        } else {
          if (!eof) goto need_more;
          pos_ = n;
        }
        break;
    }
  }
need_more:
  // Drop the consumed prefix.
  if (start_ > 0 && (start_ > (1 << 20) || start_ == buf_.size())) {
    buf_.erase(0, start_);
    pos_ -= start_;
    start_ = 0;
  }
  return Status::OK();
}

}  // namespace rw::db
