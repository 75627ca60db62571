//===- OutputFiles.h - all-or-nothing output files --------------*- C++ -*-===//
//
// Every file a tool writes goes through an OutputFiles set, so that a failed
// run leaves each pre-existing file as it was and no file is destroyed:
//  - a regular file (or a new path) is written to a short temporary name in
//    its own directory, flushed and fsync'ed, given the mode (and, where
//    permitted, the owner) of the file it replaces, and renamed into place
//    only after every output of the set was written; then the directory is
//    fsync'ed;
//  - a symlink is followed and its target replaced, the link itself kept;
//  - an existing character device or FIFO is written through directly (after
//    every regular output was committed): `/dev/null` stays a device;
//  - a socket, a directory or a missing parent directory is refused;
//  - a path that names an input (by device and inode, or by resolved path)
//    or another output of the set is refused before anything is written.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_TOOLSUPPORT_OUTPUTFILES_H
#define MHMOE_TOOLSUPPORT_OUTPUTFILES_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mhmoe {

/// Streams an output's contents.
using OutputWriter = std::function<llvm::Error(llvm::raw_ostream &)>;
/// Produces an output as a file at the given path (e.g. a linker's -o).
using OutputProducer = std::function<llvm::Error(llvm::StringRef tmpPath)>;

class OutputFiles {
public:
  OutputFiles();
  ~OutputFiles(); // removes every temporary that was not committed
  OutputFiles(const OutputFiles &) = delete;
  OutputFiles &operator=(const OutputFiles &) = delete;

  /// Marks `path` as an input: no output may name it. A path that does not
  /// exist is remembered by name.
  void protectInput(llvm::StringRef path);

  /// Checks `path` and adds it to the set; `role` names it in messages
  /// (e.g. "--output"). Fails, writing nothing, when the path cannot be an
  /// output (see the file comment).
  llvm::Error add(llvm::StringRef path, llvm::StringRef role,
                  OutputWriter writer);
  llvm::Error addProduced(llvm::StringRef path, llvm::StringRef role,
                          OutputProducer producer);

  /// Writes every output to its temporary, then moves all of them into
  /// place. On failure no output path has changed (except an earlier
  /// device/FIFO written through), and every temporary is removed.
  llvm::Error commit();

  struct Entry;

private:
  llvm::Error addEntry(llvm::StringRef path, llvm::StringRef role,
                       OutputProducer producer);
  void discardTemporaries();
  std::vector<std::unique_ptr<Entry>> entries;
  struct FileId {
    uint64_t dev = 0, ino = 0;
    std::string resolved;
  };
  std::vector<FileId> inputs;
};

/// One output through an OutputFiles set ("-" writes to stdout).
llvm::Error writeFileAtomically(llvm::StringRef path, OutputWriter writer);

/// Temporaries of interrupted writes (".mhmoe-tmp-*") in `dir` whose last
/// change is older than `maxAgeSeconds` are removed; returns how many.
int sweepStaleTemporaries(llvm::StringRef dir, int64_t maxAgeSeconds);

/// Prefix of the temporary names this module creates.
constexpr llvm::StringLiteral kTemporaryPrefix = ".mhmoe-tmp-";

} // namespace mhmoe

#endif // MHMOE_TOOLSUPPORT_OUTPUTFILES_H
