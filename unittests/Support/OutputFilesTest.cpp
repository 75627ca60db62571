//===- OutputFilesTest.cpp - all-or-nothing output files ------------------===//
#include "mhmoe/Support/InputFiles.h"
#include "mhmoe/ToolSupport/OutputFiles.h"

#include "TestUtil.h"

#include "llvm/Support/MemoryBuffer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace mhmoe;
using namespace mhmoe::testing_util;

namespace {

class OutputFilesTest : public TempDirTest {
protected:
  std::string read(const std::string &p) {
    auto buf = llvm::MemoryBuffer::getFile(p);
    return buf ? (*buf)->getBuffer().str() : "<unreadable>";
  }
  static OutputWriter text(std::string s) {
    return [s](llvm::raw_ostream &os) {
      os << s;
      return llvm::Error::success();
    };
  }
  static OutputWriter failing() {
    return [](llvm::raw_ostream &os) {
      os << "partial";
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "disk on fire");
    };
  }
};

TEST_F(OutputFilesTest, WritesEveryOutputAndLeavesNoTemporaries) {
  OutputFiles out;
  ASSERT_EQ(errorMessage(out.add(path("a"), "--a", text("A"))), "");
  ASSERT_EQ(errorMessage(out.add(path("b"), "--b", text("B"))), "");
  ASSERT_EQ(errorMessage(out.commit()), "");
  EXPECT_EQ(read(path("a")), "A");
  EXPECT_EQ(read(path("b")), "B");
  EXPECT_EQ(countEntries(), 2);
}

TEST_F(OutputFilesTest, AFailureLeavesEveryExistingFileAsItWas) {
  writeFile("stats.json", "OLD STATS");
  writeFile("out.npy", "OLD OUTPUT");
  OutputFiles out;
  ASSERT_EQ(errorMessage(out.add(path("stats.json"), "--stats", text("NEW"))),
            "");
  ASSERT_EQ(errorMessage(out.add(path("out.npy"), "--output", failing())), "");
  EXPECT_EQ(errorMessage(out.commit()), "disk on fire");
  EXPECT_EQ(read(path("stats.json")), "OLD STATS");
  EXPECT_EQ(read(path("out.npy")), "OLD OUTPUT");
  EXPECT_EQ(countEntries(), 2); // the temporaries are gone
}

TEST_F(OutputFilesTest, KeepsTheModeOfAReplacedFile) {
  writeFile("secret", "old");
  ASSERT_EQ(::chmod(path("secret").c_str(), 0600), 0);
  ASSERT_EQ(errorMessage(writeFileAtomically(path("secret"), text("new"))), "");
  struct stat st;
  ASSERT_EQ(::stat(path("secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read(path("secret")), "new");
}

TEST_F(OutputFilesTest, ReplacesASymlinksTargetAndKeepsTheLink) {
  writeFile("real", "old");
  ASSERT_EQ(::symlink("real", path("link").c_str()), 0);
  ASSERT_EQ(errorMessage(writeFileAtomically(path("link"), text("new"))), "");
  struct stat st;
  ASSERT_EQ(::lstat(path("link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(read(path("real")), "new");
  // A dangling link creates its target.
  ASSERT_EQ(::symlink("later", path("dangling").c_str()), 0);
  ASSERT_EQ(errorMessage(writeFileAtomically(path("dangling"), text("x"))), "");
  EXPECT_EQ(read(path("later")), "x");
}

TEST_F(OutputFilesTest, WritesThroughAFifoAndKeepsIt) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  std::string got;
  std::thread reader([&] {
    int fd = ::open(path("fifo").c_str(), O_RDONLY);
    char buf[64];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0)
      got.append(buf, size_t(n));
    ::close(fd);
  });
  EXPECT_EQ(errorMessage(writeFileAtomically(path("fifo"), text("through"))),
            "");
  reader.join();
  EXPECT_EQ(got, "through");
  struct stat st;
  ASSERT_EQ(::lstat(path("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(OutputFilesTest, RefusesInputsAndDuplicatesBeforeWriting) {
  writeFile("model.safetensors", "weights");
  ASSERT_EQ(::symlink("model.safetensors", path("alias").c_str()), 0);
  ASSERT_EQ(::link(path("model.safetensors").c_str(), path("hard").c_str()), 0);
  OutputFiles out;
  out.protectInput(path("model.safetensors"));
  out.protectInput(path("future-input"));
  for (const char *name : {"model.safetensors", "alias", "hard", "future-input"}) {
    std::string msg = errorMessage(out.add(path(name), "--output", text("x")));
    EXPECT_NE(msg.find("is an input of this run"), std::string::npos) << msg;
  }
  ASSERT_EQ(errorMessage(out.add(path("o"), "--output", text("x"))), "");
  std::string msg = errorMessage(out.add(path("./o"), "--stats", text("y")));
  EXPECT_NE(msg.find("names the same file as --output (--stats)"),
            std::string::npos)
      << msg;
  EXPECT_EQ(read(path("model.safetensors")), "weights");
}

TEST_F(OutputFilesTest, RefusesDirectoriesSocketsAndMissingParents) {
  std::string msg = errorMessage(writeFileAtomically(dir.str(), text("x")));
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
  msg = errorMessage(writeFileAtomically(path("no/such/dir/f"), text("x")));
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST_F(OutputFilesTest, NamesUpToNameMaxCanBeWritten) {
  std::string name(255, 'n');
  ASSERT_EQ(errorMessage(writeFileAtomically(path(name), text("long"))), "");
  EXPECT_EQ(read(path(name)), "long");
}

TEST_F(OutputFilesTest, SweepsOnlyStaleTemporaries) {
  writeFile(".mhmoe-tmp-old", "x");
  writeFile(".mhmoe-tmp-new", "x");
  writeFile("keep", "x");
  struct timespec times[2] = {{0, 0}, {0, 0}}; // 1970
  ASSERT_EQ(::utimensat(AT_FDCWD, path(".mhmoe-tmp-old").c_str(), times, 0), 0);
  EXPECT_EQ(sweepStaleTemporaries(dir, 600), 1);
  EXPECT_FALSE(llvm::sys::fs::exists(path(".mhmoe-tmp-old")));
  EXPECT_TRUE(llvm::sys::fs::exists(path(".mhmoe-tmp-new")));
  EXPECT_TRUE(llvm::sys::fs::exists(path("keep")));
}

TEST_F(OutputFilesTest, InputsMustBeRegularFilesWithinTheirLimit) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  // Refused at once: opening does not wait for a writer.
  std::string msg = errorMessage(readRegularFile(path("fifo"), 100, "config"));
  EXPECT_NE(msg.find("config is a FIFO (named pipe), expected a regular file"),
            std::string::npos)
      << msg;
  msg = errorMessage(readRegularFile(dir.str().str(), 100, "config"));
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
  writeFile("big", std::string(101, 'x'));
  msg = errorMessage(readRegularFile(path("big"), 100, "config"));
  EXPECT_NE(msg.find("config is too large (101 bytes; the limit is 100)"),
            std::string::npos)
      << msg;
  auto ok = readRegularFile(path("big"), 101, "config");
  ASSERT_TRUE(bool(ok));
  EXPECT_EQ(ok->size(), 101u);
}

} // namespace
