//===- FileUtil.cpp - Atomic file writing ---------------------------------===//
#include "mhmoe/Support/FileUtil.h"
#include "mhmoe/Support/Error.h"

#include "llvm/Support/FileSystem.h"

using namespace llvm;

namespace mhmoe {

Error writeFileAtomically(StringRef path,
                          function_ref<Error(raw_ostream &)> write) {
  unsigned mode = sys::fs::all_read | sys::fs::all_write;
  Expected<sys::fs::TempFile> temp =
      sys::fs::TempFile::create(path + ".tmp-%%%%%%%%", mode);
  if (!temp)
    return makeError(path + ": cannot create temporary output file: " +
                     toString(temp.takeError()));

  std::error_code writeEC;
  {
    raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    if (Error e = write(os)) {
      os.clear_error();
      consumeError(temp->discard());
      return e;
    }
    os.flush();
    if (os.has_error()) {
      writeEC = os.error();
      os.clear_error();
    }
  }
  if (writeEC) {
    consumeError(temp->discard());
    return makeError(path + ": write failed: " + writeEC.message());
  }
  if (Error e = temp->keep(path)) {
    consumeError(temp->discard());
    return makeError(path + ": cannot rename temporary file into place: " +
                     toString(std::move(e)));
  }
  return Error::success();
}

} // namespace mhmoe
