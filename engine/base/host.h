// Who and where: the host name and user name recorded in snapshots and lock files.
#pragma once

#include <string>

namespace rw {

// gethostname(), or "unknown".
std::string Hostname();
// The effective user's name, or its numeric uid when it has none.
std::string Username();

}  // namespace rw
