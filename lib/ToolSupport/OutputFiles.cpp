//===- OutputFiles.cpp - all-or-nothing output files ----------------------===//
#include "mhmoe/ToolSupport/OutputFiles.h"
#include "mhmoe/ToolSupport/LLVMError.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace llvm;

namespace mhmoe {

namespace {

std::string errnoText() { return std::strerror(errno); }

/// The process umask, read once (umask() can only be read by setting it).
mode_t processUmask() {
  static const mode_t mask = [] {
    mode_t m = ::umask(0);
    ::umask(m);
    return m;
  }();
  return mask;
}

/// `path` made absolute against the working directory, with "." and ".."
/// removed lexically.
std::string absolute(StringRef path) {
  SmallString<256> p(path);
  sys::fs::make_absolute(p);
  sys::path::remove_dots(p, /*remove_dot_dot=*/true);
  return std::string(p);
}

/// The directory's canonical path joined with `name`, when it exists.
std::string canonicalInParent(StringRef path) {
  SmallString<256> parent = sys::path::parent_path(path);
  if (parent.empty())
    parent = "/";
  char buf[PATH_MAX];
  if (!::realpath(parent.c_str(), buf))
    return std::string(path);
  SmallString<256> out(buf);
  sys::path::append(out, sys::path::filename(path));
  return std::string(out);
}

Error fsyncDirectoryOf(StringRef path) {
  SmallString<256> dir = sys::path::parent_path(path);
  if (dir.empty())
    dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return makeError(dir + ": cannot open directory to sync it: " +
                     errnoText());
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  // Some file systems cannot fsync a directory; the data itself is synced.
  if (rc != 0 && saved != EINVAL && saved != EROFS)
    return makeError(dir + ": cannot sync directory: " + std::strerror(saved));
  return Error::success();
}

/// The path `path` names after following symlinks (also a dangling one) and
/// making it absolute; the path itself when it cannot be resolved.
std::string resolveOutputPath(StringRef path) {
  std::string p = absolute(path);
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode))
      break;
    char buf[PATH_MAX];
    ssize_t n = ::readlink(p.c_str(), buf, sizeof(buf) - 1);
    if (n < 0)
      break;
    buf[n] = 0;
    if (buf[0] == '/') {
      p = absolute(buf);
    } else {
      SmallString<256> next = sys::path::parent_path(p);
      sys::path::append(next, buf);
      p = absolute(next);
    }
  }
  return canonicalInParent(p);
}

OutputProducer streamTo(OutputWriter writer) {
  return [writer = std::move(writer)](StringRef tmpPath) -> Error {
    std::error_code ec;
    raw_fd_ostream os(tmpPath, ec, sys::fs::OF_None);
    if (ec)
      return makeError(tmpPath + ": cannot open for writing: " + ec.message());
    if (Error e = writer(os)) {
      os.clear_error();
      return e;
    }
    os.close();
    if (os.has_error()) {
      std::string msg = os.error().message();
      os.clear_error();
      return makeError(tmpPath + ": write failed: " + msg);
    }
    return Error::success();
  };
}

} // namespace

struct OutputFiles::Entry {
  enum Kind { New, Replace, Direct, Stdout };
  std::string path, role, target;
  Kind kind = New;
  bool streamed = false; // written by an OutputWriter (mode from the umask)
  struct stat existing = {};
  OutputProducer producer;
  std::string tmp; // temporary, removed unless renamed into place
};

OutputFiles::OutputFiles() = default;

OutputFiles::~OutputFiles() { discardTemporaries(); }

void OutputFiles::discardTemporaries() {
  for (auto &e : entries)
    if (!e->tmp.empty()) {
      ::unlink(e->tmp.c_str());
      e->tmp.clear();
    }
}

void OutputFiles::protectInput(StringRef path) {
  FileId id;
  id.resolved = resolveOutputPath(path);
  struct stat st;
  if (::stat(id.resolved.c_str(), &st) == 0) {
    id.dev = st.st_dev;
    id.ino = st.st_ino;
  }
  inputs.push_back(std::move(id));
}

Error OutputFiles::add(StringRef path, StringRef role, OutputWriter writer) {
  if (Error e = addEntry(path, role, streamTo(std::move(writer))))
    return e;
  entries.back()->streamed = true;
  return Error::success();
}

Error OutputFiles::addProduced(StringRef path, StringRef role,
                               OutputProducer producer) {
  return addEntry(path, role, std::move(producer));
}

Error OutputFiles::addEntry(StringRef path, StringRef role,
                            OutputProducer producer) {
  auto fail = [&](const Twine &why) {
    return makeError(path + ": " + why + " (" + role + ")");
  };
  if (path.empty())
    return makeError(role + " path is empty");
  auto e = std::make_unique<Entry>();
  e->path = path.str();
  e->role = role.str();
  e->producer = std::move(producer);
  if (path == "-") {
    for (auto &other : entries)
      if (other->kind == Entry::Stdout)
        return fail("standard output is already " + other->role);
    e->kind = Entry::Stdout;
    entries.push_back(std::move(e));
    return Error::success();
  }
  e->target = resolveOutputPath(path);
  struct stat st;
  bool exists = ::stat(e->target.c_str(), &st) == 0;
  if (exists) {
    if (S_ISDIR(st.st_mode))
      return fail("is a directory");
    if (S_ISSOCK(st.st_mode))
      return fail("is a socket; refusing to write to it");
    if (S_ISBLK(st.st_mode))
      return fail("is a block device; refusing to write to it");
    e->kind = S_ISREG(st.st_mode) ? Entry::Replace : Entry::Direct;
    e->existing = st;
    for (const FileId &in : inputs)
      if (in.ino && in.dev == uint64_t(st.st_dev) && in.ino == uint64_t(st.st_ino))
        return fail("is an input of this run (" + in.resolved +
                    "); refusing to overwrite it");
    for (auto &other : entries)
      if (other->kind != Entry::Stdout && other->kind != Entry::New &&
          other->existing.st_dev == st.st_dev &&
          other->existing.st_ino == st.st_ino)
        return fail("names the same file as " + other->role);
    if (e->kind == Entry::Replace && ::access(e->target.c_str(), W_OK) != 0)
      return fail("is not writable");
  } else {
    SmallString<256> parent = sys::path::parent_path(e->target);
    if (!sys::fs::is_directory(parent))
      return fail("directory '" + parent + "' does not exist");
    if (::access(parent.c_str(), W_OK) != 0)
      return fail("directory '" + parent + "' is not writable");
  }
  for (const FileId &in : inputs)
    if (in.resolved == e->target)
      return fail("is an input of this run; refusing to overwrite it");
  for (auto &other : entries)
    if (other->target == e->target)
      return fail("names the same file as " + other->role);
  entries.push_back(std::move(e));
  return Error::success();
}

/// Creates the temporary for `e` (beside its target, or in $TMPDIR for a
/// device or FIFO) and runs its producer into it.
static Error stage(OutputFiles::Entry &e) {
  SmallString<256> model;
  if (e.kind == OutputFiles::Entry::New ||
      e.kind == OutputFiles::Entry::Replace) {
    model = sys::path::parent_path(e.target);
    sys::path::append(model, Twine(kTemporaryPrefix) + "XXXXXX");
  } else {
    sys::path::system_temp_directory(/*ErasedOnReboot=*/true, model);
    sys::path::append(model, Twine(kTemporaryPrefix) + "XXXXXX");
  }
  std::string tmpl(model.str());
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0)
    return makeError(e.path + ": cannot create a temporary file beside it: " +
                     errnoText() + " (" + e.role + ")");
  // mkstemp's 0600 would stay on a file the producer writes in place (e.g.
  // a PNG); a new output gets the mode any new file would.
  (void)::fchmod(fd, 0666 & ~processUmask());
  ::close(fd);
  e.tmp = tmpl;
  if (Error err = e.producer(e.tmp))
    return err;
  fd = ::open(e.tmp.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return makeError(e.path + ": temporary output vanished: " + errnoText());
  int rc = 0;
  if (e.kind == OutputFiles::Entry::Replace) {
    rc = ::fchmod(fd, e.existing.st_mode & 07777);
    // Keep the owner where permitted (root, or a group we belong to).
    if (rc == 0 && ::fchown(fd, e.existing.st_uid, e.existing.st_gid) != 0)
      (void)::fchown(fd, uid_t(-1), e.existing.st_gid);
  } else if (e.streamed) {
    rc = ::fchmod(fd, 0666 & ~processUmask());
  }
  if (rc == 0)
    rc = ::fsync(fd);
  std::string why = rc ? errnoText() : "";
  ::close(fd);
  if (rc != 0)
    return makeError(e.path + ": cannot finish the temporary output: " + why);
  return Error::success();
}

static Error writeThrough(OutputFiles::Entry &e) {
  if (e.kind == OutputFiles::Entry::Stdout) {
    outs().flush();
    if (std::error_code ec = sys::fs::copy_file(e.tmp, STDOUT_FILENO))
      return makeError("cannot write the output to stdout: " + ec.message());
    return Error::success();
  }
  int fd = ::open(e.target.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return makeError(e.path + ": cannot open for writing: " + errnoText() +
                     " (" + e.role + ")");
  std::error_code ec = sys::fs::copy_file(e.tmp, fd);
  ::close(fd);
  if (ec)
    return makeError(e.path + ": write failed: " + ec.message() + " (" +
                     e.role + ")");
  return Error::success();
}

Error OutputFiles::commit() {
  // 1. Every output to its temporary; nothing in place has changed yet.
  for (auto &e : entries)
    if (Error err = stage(*e)) {
      discardTemporaries();
      return err;
    }
  // 2. Regular outputs into place, then devices, FIFOs and stdout.
  for (auto &e : entries) {
    if (e->kind != Entry::New && e->kind != Entry::Replace)
      continue;
    if (::rename(e->tmp.c_str(), e->target.c_str()) != 0)
      return makeError(e->path + ": cannot move the finished output into "
                                 "place: " +
                       errnoText() + " (" + e->role + ")");
    e->tmp.clear();
    if (Error err = fsyncDirectoryOf(e->target))
      return err;
  }
  for (auto &e : entries) {
    if (e->kind != Entry::Direct && e->kind != Entry::Stdout)
      continue;
    Error err = writeThrough(*e);
    ::unlink(e->tmp.c_str());
    e->tmp.clear();
    if (err)
      return err;
  }
  return Error::success();
}

Error writeFileAtomically(StringRef path, OutputWriter writer) {
  OutputFiles out;
  if (Error e = out.add(path, "output", std::move(writer)))
    return e;
  return out.commit();
}

int sweepStaleTemporaries(StringRef dir, int64_t maxAgeSeconds) {
  DIR *d = ::opendir(dir.str().c_str());
  if (!d)
    return 0;
  int removed = 0;
  const time_t now = ::time(nullptr);
  while (struct dirent *ent = ::readdir(d)) {
    StringRef name(ent->d_name);
    if (!name.starts_with(kTemporaryPrefix))
      continue;
    SmallString<256> p(dir);
    sys::path::append(p, name);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (now - st.st_mtime >= maxAgeSeconds && ::unlink(p.c_str()) == 0)
      ++removed;
  }
  ::closedir(d);
  return removed;
}

} // namespace mhmoe
