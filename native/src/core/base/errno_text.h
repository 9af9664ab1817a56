// ErrnoText: turns a failed call and its errno into one readable line ("open /dev/kvm: Permission denied (EACCES)").
// Boundary: formatting only. The core reports errors as strings like this instead of throwing, because
// exceptions are disabled and must never cross the N-API boundary.
#pragma once

#include <string.h>

#include <string>

namespace sf {

inline std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  // The symbolic name lets callers (and tests) match on EPERM/EACCES without parsing localized text.
  if (const char* name = ::strerrorname_np(err)) return name;
#endif
  return "errno " + std::to_string(err);
}

inline std::string ErrnoText(const std::string& what, int err) {
  // strerror_r rather than strerror: probes may later run on worker threads. g++ defines _GNU_SOURCE,
  // so this is the GNU variant that returns the message pointer (possibly not `buf`).
  char buf[128];
  const char* msg = ::strerror_r(err, buf, sizeof buf);
  return what + ": " + msg + " (" + ErrnoName(err) + ")";
}

}  // namespace sf
