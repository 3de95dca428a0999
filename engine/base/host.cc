#include "engine/base/host.h"

#include <pwd.h>
#include <unistd.h>

namespace rw {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string Username() {
  struct passwd pw{}, *res = nullptr;
  char buf[4096];
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res) return res->pw_name;
  return std::to_string(getuid());
}

}  // namespace rw
