#include "engine/base/clock.h"

#include <ctime>
#include <cstdio>

namespace rw {

namespace {
class RealClockImpl final : public Clock {
 public:
  int64_t NowNs() const override { return Read(CLOCK_REALTIME); }
  int64_t MonotonicNs() const override { return Read(CLOCK_MONOTONIC); }

 private:
  static int64_t Read(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }
};
}  // namespace

const Clock& RealClock() {
  static const RealClockImpl clock;
  return clock;
}

std::string FormatRfc3339Ns(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  if (frac < 0) { frac += 1000000000; --secs; }
  tm t{};
  gmtime_r(&secs, &t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, frac);
  return buf;
}

}  // namespace rw
