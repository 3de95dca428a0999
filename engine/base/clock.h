// Time, behind an interface so tests can be deterministic.
#pragma once

#include <cstdint>
#include <string>

namespace rw {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds since the Unix epoch (CLOCK_REALTIME).
  virtual int64_t NowNs() const = 0;
  // Monotonic nanoseconds, for durations.
  virtual int64_t MonotonicNs() const = 0;
};

// The process-wide real clock. Thread-safe.
const Clock& RealClock();

// "2026-11-25T10:31:07.123456789Z"
std::string FormatRfc3339Ns(int64_t ns_since_epoch);

}  // namespace rw
