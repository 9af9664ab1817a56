// Helpers of the disk tests: a scratch directory removed afterwards, raw image files filled with a
// position-dependent pattern, and a count of this process's open files inside a directory (to see an
// overlay's file go). Boundary: test support only.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace sf::devices::test {

// The byte a test image holds at `offset` (differs between neighbouring sectors and blocks).
inline uint8_t pattern_byte(uint64_t offset, uint8_t seed = 0) {
  return static_cast<uint8_t>((offset * 7) ^ (offset >> 9) ^ (offset >> 12) ^ seed);
}
inline std::vector<uint8_t> pattern(uint64_t offset, size_t len, uint8_t seed = 0) {
  std::vector<uint8_t> v(len);
  for (size_t i = 0; i < len; ++i) v[i] = pattern_byte(offset + i, seed);
  return v;
}

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != 0 ? base : "/tmp") + "/sf-blk-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
    EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
  }
  ~TempDir() {
    for (const std::string& name : entries()) ::unlink((path_ + "/" + name).c_str());
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // The names in the directory (what a crash would leave behind).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
      ::closedir(d);
    }
    return names;
  }

 private:
  std::string path_;
};

// Writes a raw image of `bytes` bytes holding pattern(0, bytes, seed).
inline std::string make_image(const TempDir& dir, const std::string& name, uint64_t bytes, uint8_t seed = 0) {
  const std::string path = dir.file(name);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  constexpr uint64_t kChunk = 1 << 20;
  for (uint64_t at = 0; at < bytes; at += kChunk) {
    const auto part = pattern(at, std::min(kChunk, bytes - at), seed);
    EXPECT_EQ(::pwrite(fd, part.data(), part.size(), static_cast<off_t>(at)), static_cast<ssize_t>(part.size()));
  }
  ::close(fd);
  return path;
}

// How many of this process's open fds refer to files that are (or were) in `dir`: an unnamed overlay
// file shows as "DIR/#inode (deleted)", an unlinked one as "DIR/name (deleted)".
inline int open_files_in(const std::string& dir) {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      char target[4096];
      const std::string link = std::string("/proc/self/fd/") + e->d_name;
      const ssize_t len = ::readlink(link.c_str(), target, sizeof target - 1);
      if (len <= 0) continue;
      const std::string t(target, static_cast<size_t>(len));
      if (t.rfind(dir + "/", 0) == 0) ++n;
    }
    ::closedir(d);
  }
  return n;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace sf::devices::test
