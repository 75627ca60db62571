//===- InputFiles.cpp - bounded reads of regular files --------------------===//
#include "mhmoe/Support/InputFiles.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mhmoe {

namespace {

const char *kindOf(mode_t mode) {
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISCHR(mode))
    return "a character device";
  if (S_ISBLK(mode))
    return "a block device";
  if (S_ISFIFO(mode))
    return "a FIFO (named pipe)";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

} // namespace

Result<std::unique_ptr<RegularFile>> RegularFile::open(const std::string &path,
                                                       const std::string &what) {
  std::string p = path;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
  // below anyway.
  int fd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return Status::error(path + ": cannot open file: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int saved = errno;
    ::close(fd);
    return Status::error(path + ": cannot stat " + what + ": " +
                     std::strerror(saved));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error(path + ": " + what + " is " + kindOf(st.st_mode) +
                     ", expected a regular file");
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0)
    (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return std::unique_ptr<RegularFile>(
      new RegularFile(fd, uint64_t(st.st_size), std::move(p)));
}

RegularFile::~RegularFile() { ::close(fd); }

Status RegularFile::readAt(uint64_t offset, void *dst, uint64_t n) const {
  char *out = static_cast<char *>(dst);
  while (n > 0) {
    size_t chunk = size_t(std::min<uint64_t>(n, uint64_t(1) << 30));
    ssize_t got = ::pread(fd, out, chunk, off_t(offset));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return Status::error(filePath + ": read failed: " + std::strerror(errno));
    if (got == 0)
      return Status::error(filePath + ": file changed while being read (it is "
                                  "shorter than its size when opened, " +
                       std::to_string(fileSize) + " bytes)");
    out += got;
    offset += uint64_t(got);
    n -= uint64_t(got);
  }
  return Status::success();
}

Result<std::string> readRegularFile(const std::string &path, uint64_t maxBytes,
                                    const std::string &what) {
  Result<std::unique_ptr<RegularFile>> file = RegularFile::open(path, what);
  if (!file)
    return file.takeError();
  uint64_t size = (*file)->size();
  if (size > maxBytes)
    return Status::error(path + ": " + what + " is too large (" + std::to_string(size) +
                     " bytes; the limit is " + std::to_string(maxBytes) + ")");
  std::string text(size_t(size), '\0');
  if (Status e = (*file)->readAt(0, text.data(), size))
    return std::move(e);
  return std::move(text);
}

} // namespace mhmoe
