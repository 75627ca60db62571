//===- InputFiles.h - bounded reads of regular files -------------*- C++ -*-===//
//
// Every file mhmoe reads (config, weights, .npy input, cache entries) is
// opened here: only a regular file is accepted (a FIFO, device or directory
// gets a message instead of a read that blocks or never ends), its size is
// taken from fstat and checked against a limit before anything is read, and
// reads go through pread into owned memory (never a mapping that a later
// truncation turns into SIGBUS).
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_INPUTFILES_H
#define MHMOE_SUPPORT_INPUTFILES_H

#include "mhmoe/Support/Status.h"

#include <cstdint>
#include <memory>
#include <string>

namespace mhmoe {

/// An open regular file and its size when it was opened.
class RegularFile {
public:
  /// Opens `path` for reading; `what` names it in messages ("config",
  /// "input"). Fails for anything but a regular file.
  static Result<std::unique_ptr<RegularFile>> open(const std::string &path,
                                                   const std::string &what);
  ~RegularFile();

  uint64_t size() const { return fileSize; }
  const std::string &path() const { return filePath; }

  /// Reads exactly `n` bytes at `offset` into `dst`; a file that got shorter
  /// since it was opened is an error ("changed while being read").
  Status readAt(uint64_t offset, void *dst, uint64_t n) const;

private:
  RegularFile(int fd, uint64_t size, std::string path)
      : fd(fd), fileSize(size), filePath(std::move(path)) {}
  int fd;
  uint64_t fileSize;
  std::string filePath;
};

/// The whole of the regular file `path`, refused when it is larger than
/// `maxBytes`.
Result<std::string> readRegularFile(const std::string &path, uint64_t maxBytes,
                                    const std::string &what);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_INPUTFILES_H
