// Fault injector for rollback_no_tmpfile.sh (LD_PRELOAD): a file system without O_TMPFILE.
// Every open with O_TMPFILE fails with EOPNOTSUPP, as on NFS, FUSE or vfat; every other open
// goes to the C library. No file system the tests can mount lacks O_TMPFILE, so the fallback of
// rollback and restore (a temporary name, renamed into place) is reached only this way.
// REWIND_NO_TMPFILE_LOG=FILE: a line is appended there by the first refused open of each
// process, so the test knows the fallback was exercised.
// REWIND_NO_TMPFILE_ERRNO=EISDIR or EINVAL: that error instead (a kernel before 3.11 ignores
// the flag's O_TMPFILE bit and fails with EISDIR; some file systems answer EINVAL); EDQUOT for
// a disk quota reached.
// REWIND_NO_TMPFILE_AFTER=N: the first N opens with O_TMPFILE of each process succeed, the
// later ones fail (a quota reached part way).
#undef _FORTIFY_SOURCE  // this file defines the open functions themselves
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {

typedef int (*openat_fn)(int, const char*, int, ...);

static std::atomic<int> logged{0};

static int refused_errno(void) {
  const char* name = getenv("REWIND_NO_TMPFILE_ERRNO");
  if (name == nullptr || *name == '\0') return EOPNOTSUPP;
  struct Known {
    const char* name;
    int value;
  };
  static const Known known[] = {
      {"EOPNOTSUPP", EOPNOTSUPP}, {"EISDIR", EISDIR}, {"EINVAL", EINVAL}, {"EDQUOT", EDQUOT}};
  for (const Known& k : known) {
    if (strcmp(name, k.name) == 0) return k.value;
  }
  fprintf(stderr, "no_tmpfile_preload: REWIND_NO_TMPFILE_ERRNO=%s is not one of EOPNOTSUPP, EISDIR, EINVAL, EDQUOT\n", name);
  abort();
}

static int refuse(void) {
  static const int err = refused_errno();
  if (logged.exchange(1) == 0) {
    const char* log = getenv("REWIND_NO_TMPFILE_LOG");
    openat_fn real = reinterpret_cast<openat_fn>(dlsym(RTLD_NEXT, "openat"));
    if (log != nullptr && real != nullptr) {
      int fd = real(AT_FDCWD, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        char line[96];
        int n = snprintf(line, sizeof line, "pid %ld refused O_TMPFILE with errno %d\n", static_cast<long>(getpid()),
                         err);
        if (n > 0 && write(fd, line, static_cast<size_t>(n)) < 0) {
          // nothing to do: the test then sees no line and fails
        }
        close(fd);
      }
    }
  }
  errno = err;
  return -1;
}

// Whether this open with O_TMPFILE is refused (REWIND_NO_TMPFILE_AFTER lets the first ones by).
static bool refused_tmpfile(int flags) {
  if ((flags & O_TMPFILE) != O_TMPFILE) return false;
  static const long after = [] {
    const char* n = getenv("REWIND_NO_TMPFILE_AFTER");
    return n != nullptr && *n != '\0' ? strtol(n, nullptr, 10) : 0L;
  }();
  static std::atomic<long> seen{0};
  return seen.fetch_add(1) >= after;
}

static bool is_tmpfile(int flags) { return (flags & O_TMPFILE) == O_TMPFILE; }

static mode_t mode_of(int flags, va_list ap) {
  return (flags & O_CREAT) || is_tmpfile(flags) ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

#define FORWARD_AT(name)                                             \
  int name(int dfd, const char* path, int flags, ...) {              \
    va_list ap;                                                      \
    va_start(ap, flags);                                             \
    mode_t mode = mode_of(flags, ap);                                \
    va_end(ap);                                                      \
    if (refused_tmpfile(flags)) return refuse();                     \
    static const openat_fn real = reinterpret_cast<openat_fn>(dlsym(RTLD_NEXT, #name)); \
    return real(dfd, path, flags, mode);                             \
  }

#define FORWARD(name)                                                \
  int name(const char* path, int flags, ...) {                       \
    va_list ap;                                                      \
    va_start(ap, flags);                                             \
    mode_t mode = mode_of(flags, ap);                                \
    va_end(ap);                                                      \
    if (refused_tmpfile(flags)) return refuse();                     \
    typedef int (*open_fn)(const char*, int, ...);                   \
    static const open_fn real = reinterpret_cast<open_fn>(dlsym(RTLD_NEXT, #name)); \
    return real(path, flags, mode);                                  \
  }

FORWARD_AT(openat)
FORWARD_AT(openat64)
FORWARD(open)
FORWARD(open64)

// The _FORTIFY_SOURCE entry points (no mode argument).
#define FORTIFIED_AT(name)                                           \
  int name(int dfd, const char* path, int flags) {                   \
    if (refused_tmpfile(flags)) return refuse();                     \
    typedef int (*fn)(int, const char*, int);                        \
    static const fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, #name)); \
    return real(dfd, path, flags);                                   \
  }
#define FORTIFIED(name)                                              \
  int name(const char* path, int flags) {                            \
    if (refused_tmpfile(flags)) return refuse();                     \
    typedef int (*fn)(const char*, int);                             \
    static const fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, #name)); \
    return real(path, flags);                                        \
  }

FORTIFIED_AT(__openat_2)
FORTIFIED_AT(__openat64_2)
FORTIFIED(__open_2)
FORTIFIED(__open64_2)

}  // extern "C"
