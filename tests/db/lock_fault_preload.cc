// Fault injector for lock_retry.sh (LD_PRELOAD): the server answering a statement with a
// deadlock (1213) or a lock wait timeout (1205), as it does when two of the restore's loading
// sessions lock each other. A real server does that only by chance (db.roundtrip met it once in
// CI), never on demand, so this refuses one chosen statement before it reaches the server: for
// the client that is the same as the server rolling the statement back (autocommit is on).
//   REWIND_LOCK_FAULT_MATCH=TEXT   the first statement with TEXT in its first 512 bytes is the one refused
//   REWIND_LOCK_FAULT_ERRNO=N      the error it gets (1213, 1205, or any other, to see it is not retried)
//   REWIND_LOCK_FAULT_TIMES=N      how many times in a row it is refused (then it runs)
//   REWIND_LOCK_FAULT_LOG=FILE     one line appended per refusal
// Only that statement, on that connection, is refused: the other sessions run as usual.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string_view>

extern "C" {

using real_query_fn = int (*)(void*, const char*, unsigned long);
using errno_fn = unsigned int (*)(void*);
using error_fn = const char* (*)(void*);

}  // extern "C"

namespace {

std::mutex mu;
void* chosen_handle = nullptr;  // the connection and the statement refused, once chosen
size_t chosen_hash = 0;
unsigned long chosen_length = 0;
long refused = 0;
thread_local void* failed_handle = nullptr;  // this thread's last statement was refused here

long EnvLong(const char* name, long fallback) {
  const char* v = getenv(name);
  return v && *v ? strtol(v, nullptr, 10) : fallback;
}

unsigned InjectedErrno() { return static_cast<unsigned>(EnvLong("REWIND_LOCK_FAULT_ERRNO", 1213)); }

void Log(unsigned long length, long n) {
  const char* path = getenv("REWIND_LOCK_FAULT_LOG");
  if (!path) return;
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[160];
  int k = snprintf(line, sizeof line, "pid %ld refused a statement of %lu bytes with error %u (refusal %ld)\n",
                   static_cast<long>(getpid()), length, InjectedErrno(), n);
  if (k > 0 && write(fd, line, static_cast<size_t>(k)) < 0) {
    // nothing to do: the test then counts too few lines and fails
  }
  close(fd);
}

bool Refuse(void* handle, const char* q, unsigned long length) {
  const char* match = getenv("REWIND_LOCK_FAULT_MATCH");
  if (!match || !*match) return false;
  const std::string_view sql(q, length);
  const std::string_view want(match);
  // A statement may start with the file's comments and blank lines.
  if (sql.substr(0, 512).find(want) == std::string_view::npos) return false;
  const size_t hash = std::hash<std::string_view>{}(sql);
  std::lock_guard<std::mutex> lock(mu);
  if (!chosen_handle) {
    chosen_handle = handle;
    chosen_hash = hash;
    chosen_length = length;
  }
  if (handle != chosen_handle || hash != chosen_hash || length != chosen_length) return false;
  if (refused >= EnvLong("REWIND_LOCK_FAULT_TIMES", 1)) return false;
  ++refused;
  Log(length, refused);
  return true;
}

}  // namespace

extern "C" {

int mysql_real_query(void* handle, const char* q, unsigned long length) {
  static const real_query_fn real = reinterpret_cast<real_query_fn>(dlsym(RTLD_NEXT, "mysql_real_query"));
  failed_handle = nullptr;
  if (Refuse(handle, q, length)) {
    failed_handle = handle;
    return 1;
  }
  return real(handle, q, length);
}

unsigned int mysql_errno(void* handle) {
  static const errno_fn real = reinterpret_cast<errno_fn>(dlsym(RTLD_NEXT, "mysql_errno"));
  if (handle && handle == failed_handle) return InjectedErrno();
  return real(handle);
}

const char* mysql_error(void* handle) {
  static const error_fn real = reinterpret_cast<error_fn>(dlsym(RTLD_NEXT, "mysql_error"));
  if (handle && handle == failed_handle) {
    switch (InjectedErrno()) {
      case 1213: return "Deadlock found when trying to get lock; try restarting transaction";
      case 1205: return "Lock wait timeout exceeded; try restarting transaction";
      default: return "injected error";
    }
  }
  return real(handle);
}

}  // extern "C"
