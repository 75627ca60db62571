//===- RuntimeTest.cpp - mhmoe runtime C API tests ------------------------===//
//
// Exercises the load/run path against FakeModelLibrary.cpp, a stand-in for a
// compiled model library that implements the same ABI. The CUDA tests load
// "target": "cuda" fakes in forked children (see runInChild), against a
// missing driver or the fake libcuda of CudaDriverRuntimeTest.cpp.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Runtime/mhmoe_runtime.h"

#include "FakeModelConfig.h"
#include "TestUtil.h"

#include "mhmoe/Support/Float16.h"
#include "mhmoe/Support/ModelConfig.h"
#include "mhmoe/Support/SafeTensors.h"
#include "mhmoe/ToolSupport/SafeTensorsWriter.h"

#include "llvm/Support/JSON.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/MemoryBuffer.h"

#include <dlfcn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace mhmoe;
using namespace mhmoe::testing_util;

namespace {

struct ModelDirOptions {
  std::function<void(llvm::json::Object &)> editConfig;
  std::set<std::string> drop;
  std::vector<std::string> extra;
  std::map<std::string, std::vector<int64_t>> reshape;
  std::map<std::string, DType> dtype;
  bool misalign = false;
};

float weightValue(const std::string &name, int64_t i) {
  // out_proj.bias of layer l: (l + 1) * 0.5 + j * 0.25 (exact in f16/bf16).
  if (name.size() > 14 &&
      name.compare(name.size() - 14, 14, ".out_proj.bias") == 0) {
    int64_t layer = name[7] - '0';
    return (layer + 1) * 0.5f + i * 0.25f;
  }
  return static_cast<float>(i % 7) * 0.125f;
}

/// Runs `tokens` tokens and compares with the fake library's computation;
/// returns "" or what differs.
std::string runAndCompare(mhmoe_model *model, int64_t tokens,
                          bool withLoad = true) {
  if (!model)
    return "no model";
  const int64_t D = 8, L = 2, E = 4;
  std::vector<float> in(tokens * D), out(tokens * D, -1.0f);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = static_cast<float>(i) * 0.5f;
  std::vector<int64_t> load(L * E, -1), dropped(L * E, -1);
  mhmoe_status s =
      withLoad ? mhmoe_model_run_counted(model, in.data(), tokens, out.data(),
                                         load.data(), dropped.data())
               : mhmoe_model_run(model, in.data(), tokens, out.data(), nullptr);
  if (s != MHMOE_OK)
    return std::string("mhmoe_model_run failed: ") + mhmoe_last_error();
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < D; ++j) {
      float expected =
          in[t * D + j] + (0.5f + j * 0.25f) + (1.0f + j * 0.25f);
      if (out[t * D + j] != expected)
        return "output t=" + std::to_string(t) + " j=" + std::to_string(j) +
               ": " + std::to_string(out[t * D + j]) + " != " +
               std::to_string(expected);
    }
  if (withLoad)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t e = 0; e < E; ++e)
        if (load[l * E + e] != tokens * 100 + l * 10 + e ||
            dropped[l * E + e] != tokens + l * 10 + e)
          return "expert_load/dropped l=" + std::to_string(l) +
                 " e=" + std::to_string(e) + ": " +
                 std::to_string(load[l * E + e]) + "/" +
                 std::to_string(dropped[l * E + e]);
  return "";
}

/// Runs `body` in a forked child and returns "" if it returned "" and exited
/// normally, otherwise what went wrong ("SKIP: ..." is passed through).
/// libMHMoECudaRuntime initialises once per process and reads
/// MHMOE_CUDA_DRIVER_LIBRARY then, so the CUDA libraries are only ever loaded
/// in children: each starts with a fresh CUDA runtime.
std::string runInChild(const std::function<std::string()> &body) {
  if (void *h = dlopen(MHMOE_CUDA_RUNTIME_LIB, RTLD_NOW | RTLD_NOLOAD)) {
    dlclose(h);
    return "libMHMoECudaRuntime is already loaded in the test process";
  }
  std::fflush(nullptr);
  int fds[2];
  if (pipe(fds) != 0)
    return "pipe failed";
  pid_t pid = fork();
  if (pid < 0)
    return "fork failed";
  if (pid == 0) {
    close(fds[0]);
    std::string r = "PASS";
    try {
      std::string failure = body();
      if (!failure.empty())
        r = failure;
    } catch (...) {
      r = "exception in the child";
    }
    size_t off = 0;
    while (off < r.size()) {
      ssize_t w = write(fds[1], r.data() + off, r.size() - off);
      if (w <= 0)
        break;
      off += size_t(w);
    }
    close(fds[1]);
    _exit(0); // no atexit handlers or gtest teardown in the child
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0)
    out.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    return "the child died of signal " + std::to_string(WTERMSIG(status)) +
           " (output: " + out + ")";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return "the child exited abnormally (output: " + out + ")";
  return out == "PASS" ? "" : out;
}

#define CHILD_CHECK(cond, what)                                                \
  do {                                                                         \
    if (!(cond))                                                               \
      return std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " +     \
             #cond + ": " + (what);                                            \
  } while (0)
#define CHILD_RUN(model, ...)                                                  \
  do {                                                                         \
    std::string r = runAndCompare(model, __VA_ARGS__);                         \
    CHILD_CHECK(r.empty(), r);                                                 \
  } while (0)

void expectChildPassed(const std::string &result) {
  if (result.rfind("SKIP: ", 0) == 0)
    GTEST_SKIP() << result.substr(6);
  EXPECT_EQ(result, "");
}

bool contains(const std::string &s, const char *part) {
  return s.find(part) != std::string::npos;
}

/// The first fields of FakeCudaStats (CudaDriverRuntimeTest.cpp), which the
/// fake driver exports through fakeCudaStats().
struct FakeCudaStatsPrefix {
  int ctxSetCurrent;
  int memAlloc, memFree;
};

class RuntimeTest : public TempDirTest {
protected:
  void TearDown() override {
    if (model)
      mhmoe_model_free(model);
    model = nullptr;
    TempDirTest::TearDown();
  }

  /// Writes config.json and model.safetensors for fakeModelConfig() (with the
  /// given perturbations) into `sub` of the temp dir; returns the directory.
  std::string writeModelDir(const ModelDirOptions &o = {},
                            llvm::StringRef sub = "model") {
    std::string d = path(sub);
    EXPECT_FALSE(llvm::sys::fs::create_directories(d));
    ModelConfig c = fakeModelConfig();
    llvm::json::Object cfg =
        std::move(*llvm::json::parse(canonicalConfigJSON(c))->getAsObject());
    cfg["torch_dtype"] = "float32"; // unknown keys are ignored
    if (o.editConfig)
      o.editConfig(cfg);
    std::string cfgText;
    llvm::raw_string_ostream os(cfgText);
    os << llvm::json::Value(std::move(cfg));
    os.flush();
    writeFile((sub + "/config.json").str(), cfgText);

    std::vector<TensorSpec> specs = expectedWeights(c);
    for (const std::string &e : o.extra)
      specs.push_back({e, {2}});
    std::vector<std::vector<uint8_t>> storage;
    std::vector<SafeTensorsRawEntry> entries;
    storage.reserve(specs.size());
    for (TensorSpec &s : specs) {
      if (o.drop.count(s.name))
        continue;
      auto rs = o.reshape.find(s.name);
      if (rs != o.reshape.end())
        s.shape = rs->second;
      DType dt = DType::F32;
      auto it = o.dtype.find(s.name);
      if (it != o.dtype.end())
        dt = it->second;
      int64_t n = 1;
      for (int64_t x : s.shape)
        n *= x;
      std::vector<uint8_t> bytes(n * dtypeSize(dt));
      for (int64_t i = 0; i < n; ++i) {
        float v = weightValue(s.name, i);
        if (dt == DType::F32) {
          std::memcpy(&bytes[i * 4], &v, 4);
        } else if (dt == DType::F16 || dt == DType::BF16) {
          uint16_t h = dt == DType::F16 ? floatToHalf(v) : floatToBF16(v);
          llvm::support::endian::write16le(&bytes[i * 2], h);
        } // other dtypes: zeros
      }
      storage.push_back(std::move(bytes));
      entries.push_back({s.name, dt, s.shape, storage.back()});
    }
    std::string st = d + "/model.safetensors";
    EXPECT_EQ(errorMessage(writeSafeTensorsRaw(st, entries)), "");
    if (o.misalign) {
      // Grow the header by one space so every tensor is 1 byte off.
      auto buf = llvm::MemoryBuffer::getFile(st);
      EXPECT_TRUE(bool(buf));
      llvm::StringRef b = (*buf)->getBuffer();
      uint64_t n = llvm::support::endian::read64le(b.data());
      std::string out(8, '\0');
      llvm::support::endian::write64le(&out[0], n + 1);
      out += b.substr(8, n).str() + " " + b.substr(8 + n).str();
      writeFile((sub + "/model.safetensors").str(), out);
    }
    return d;
  }

  mhmoe_status load(const std::string &dir, const char *lib = MHMOE_FAKE_LIB) {
    if (model)
      mhmoe_model_free(model);
    model = nullptr;
    return mhmoe_model_load(lib, dir.c_str(), &model);
  }

  void expectLoadError(const std::string &dir, mhmoe_status status,
                       llvm::StringRef substr,
                       const char *lib = MHMOE_FAKE_LIB) {
    EXPECT_EQ(load(dir, lib), status);
    EXPECT_EQ(model, nullptr);
    std::string msg = mhmoe_last_error();
    EXPECT_NE(msg.find(substr.str()), std::string::npos)
        << msg << "\nexpected to contain: " << substr.str();
  }

  /// Runs `tokens` tokens and checks the fake library's output.
  void runAndCheck(int64_t tokens, bool withLoad = true) {
    ASSERT_NE(model, nullptr);
    ASSERT_EQ(runAndCompare(model, tokens, withLoad), "");
  }

  mhmoe_model *model = nullptr;
};

TEST_F(RuntimeTest, LoadAndRun) {
  ASSERT_EQ(load(writeModelDir()), MHMOE_OK) << mhmoe_last_error();
  EXPECT_EQ(mhmoe_model_hidden_size(model), 8);
  EXPECT_EQ(mhmoe_model_num_layers(model), 2);
  EXPECT_EQ(mhmoe_model_num_experts(model), 4);
  EXPECT_EQ(mhmoe_model_heads(model), 2);
  EXPECT_EQ(mhmoe_model_top_k(model), 2);
  runAndCheck(1);
  runAndCheck(5);
}

/// A communicator that records what the library exchanged; counts come back
/// as sent plus 10 * rank, rows as sent.
struct RecordingCommunicator {
  std::vector<int64_t> countsSent, rowsSent;
  int64_t rowBytes = 0;
  static int32_t counts(void *ctx, const int64_t *send, int64_t *recv) {
    auto *c = static_cast<RecordingCommunicator *>(ctx);
    for (int q = 0; q < 2; ++q) {
      c->countsSent.push_back(send[q]);
      recv[q] = send[q] + 10 * q;
    }
    return 0;
  }
  static int32_t rows(void *ctx, const void *send, const int64_t *sendRows,
                      void *recv, const int64_t *recvRows, int64_t rowBytes) {
    auto *c = static_cast<RecordingCommunicator *>(ctx);
    c->rowBytes = rowBytes;
    int64_t n = sendRows[0] + sendRows[1];
    if (recvRows[0] + recvRows[1] != n)
      return 1;
    const auto *rows = static_cast<const int64_t *>(send);
    c->rowsSent.assign(rows, rows + n);
    std::memcpy(recv, send, size_t(n * rowBytes));
    return 0;
  }
};

// An expert-parallel library (rank 1 of 2): the runtime binds experts [2, 4)
// of each stored [4, ...] expert tensor, refuses to run it without a
// communicator, and with one runs it (0 tokens included).
TEST_F(RuntimeTest, ExpertShardBindsItsSliceAndNeedsACommunicator) {
  std::string dir = writeModelDir();
  ASSERT_EQ(load(dir, MHMOE_FAKE_LIB_EXPERT_SHARD), MHMOE_OK)
      << mhmoe_last_error();
  int32_t rank = -1;
  EXPECT_EQ(mhmoe_model_expert_shard(model, &rank), 2);
  EXPECT_EQ(rank, 1);
  std::vector<float> in(3 * 8, 1.0f), out(3 * 8, -1.0f);
  EXPECT_EQ(mhmoe_model_run(model, in.data(), 3, out.data(), nullptr),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_NE(std::string(mhmoe_last_error())
                .find("the library is rank 1 of 2 of an expert-parallel "
                      "model: install a communicator first"),
            std::string::npos)
      << mhmoe_last_error();
  EXPECT_EQ(mhmoe_model_set_communicator(model, nullptr, nullptr, nullptr),
            MHMOE_ERROR_INVALID_INPUT);

  RecordingCommunicator comm;
  ASSERT_EQ(mhmoe_model_set_communicator(model, &comm,
                                         &RecordingCommunicator::counts,
                                         &RecordingCommunicator::rows),
            MHMOE_OK)
      << mhmoe_last_error();
  ASSERT_EQ(mhmoe_model_run(model, in.data(), 3, out.data(), nullptr),
            MHMOE_OK)
      << mhmoe_last_error();
  EXPECT_EQ(comm.countsSent, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(comm.rowsSent, (std::vector<int64_t>{3, 1003}));
  EXPECT_EQ(comm.rowBytes, 8);
  // Element 0 of expert 2's fc1 (stored value (48 % 7) * 0.125) reached the
  // library, not expert 0's (0): the slice starts at expert 2.
  float biases = 0.5f + 1.0f; // out_proj.bias[0] of layers 0 and 1
  EXPECT_EQ(out[0], 1.0f + biases + 0.75f);
  EXPECT_EQ(out[1], 1.0f + biases + 0.25f + 0.25f);
  // A rank without tokens still exchanges.
  ASSERT_EQ(mhmoe_model_run(model, in.data(), 0, out.data(), nullptr),
            MHMOE_OK)
      << mhmoe_last_error();
  EXPECT_EQ(comm.countsSent, (std::vector<int64_t>{3, 3, 0, 0}));
}

TEST_F(RuntimeTest, ExpertShardChecksTheStoredExperts) {
  // The stored expert tensors must hold all 4 experts.
  ModelDirOptions o;
  o.reshape["layers.1.experts.fc2.weight"] = {2, 4, 6};
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "tensor 'layers.1.experts.fc2.weight': shape [2, 4, 6] does "
                  "not match expected [4, 4, 6]",
                  MHMOE_FAKE_LIB_EXPERT_SHARD);
  // A one-process library takes no communicator.
  ASSERT_EQ(load(writeModelDir()), MHMOE_OK) << mhmoe_last_error();
  EXPECT_EQ(mhmoe_model_expert_shard(model, nullptr), 1);
  RecordingCommunicator comm;
  EXPECT_EQ(mhmoe_model_set_communicator(model, &comm,
                                         &RecordingCommunicator::counts,
                                         &RecordingCommunicator::rows),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_NE(std::string(mhmoe_last_error()).find("is not expert-parallel"),
            std::string::npos);
}

TEST_F(RuntimeTest, WeightsFileChangedAfterLoadChangesNothing) {
  // The model owns what it read: overwriting, then truncating the file
  // under a loaded model neither changes its results nor crashes it.
  std::string dir = writeModelDir();
  ASSERT_EQ(load(dir), MHMOE_OK) << mhmoe_last_error();
  runAndCheck(3);
  std::string st = dir + "/model.safetensors";
  uint64_t size = 0;
  ASSERT_FALSE(llvm::sys::fs::file_size(st, size));
  {
    // In place (same inode), as an editor or a copy over the file would.
    int fd = ::open(st.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::string junk(size, '\x7f');
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 0), ssize_t(size));
    ::close(fd);
  }
  runAndCheck(3);
  ASSERT_EQ(::truncate(st.c_str(), 16), 0);
  runAndCheck(4);
}

TEST_F(RuntimeTest, RunWithoutExpertLoad) {
  ASSERT_EQ(load(writeModelDir()), MHMOE_OK) << mhmoe_last_error();
  runAndCheck(3, /*withLoad=*/false);
}

TEST_F(RuntimeTest, RelativeLibraryPathWithoutSlash) {
  std::string dir = writeModelDir();
  llvm::SmallString<256> cwd;
  ASSERT_FALSE(llvm::sys::fs::current_path(cwd));
  llvm::StringRef lib = MHMOE_FAKE_LIB;
  ASSERT_FALSE(llvm::sys::fs::set_current_path(llvm::sys::path::parent_path(lib)));
  std::string name = llvm::sys::path::filename(lib).str();
  mhmoe_status s = mhmoe_model_load(name.c_str(), dir.c_str(), &model);
  llvm::sys::fs::set_current_path(cwd);
  ASSERT_EQ(s, MHMOE_OK) << mhmoe_last_error();
  runAndCheck(2);
}

TEST_F(RuntimeTest, F16AndBF16WeightsAreConverted) {
  ModelDirOptions o;
  o.dtype["layers.0.out_proj.bias"] = DType::F16;
  o.dtype["layers.1.out_proj.bias"] = DType::BF16;
  o.dtype["layers.0.gate.weight"] = DType::F16;
  ASSERT_EQ(load(writeModelDir(o)), MHMOE_OK) << mhmoe_last_error();
  runAndCheck(4);
}

TEST_F(RuntimeTest, MisalignedF32WeightsAreCopied) {
  ModelDirOptions o;
  o.misalign = true;
  ASSERT_EQ(load(writeModelDir(o)), MHMOE_OK) << mhmoe_last_error();
  runAndCheck(4);
}

TEST_F(RuntimeTest, MissingLibraryFile) {
  std::string lib = path("no-such-lib.so");
  expectLoadError(writeModelDir(), MHMOE_ERROR_RUNTIME,
                  "cannot load compiled library", lib.c_str());
  EXPECT_NE(std::string(mhmoe_last_error()).find("no-such-lib.so"),
            std::string::npos);
}

TEST_F(RuntimeTest, LibraryNotASharedObject) {
  std::string lib = writeFile("garbage.so", "this is not an ELF file");
  expectLoadError(writeModelDir(), MHMOE_ERROR_RUNTIME,
                  "cannot load compiled library", lib.c_str());
}

TEST_F(RuntimeTest, LibraryWithoutManifestSymbol) {
  expectLoadError(writeModelDir(), MHMOE_ERROR_RUNTIME,
                  "does not export 'mhmoe_manifest'", MHMOE_RUNTIME_LIB);
}

TEST_F(RuntimeTest, LibraryWithoutForwardSymbol) {
  expectLoadError(writeModelDir(), MHMOE_ERROR_RUNTIME,
                  "does not export 'mhmoe_forward'", MHMOE_FAKE_LIB_NO_FORWARD);
}

TEST_F(RuntimeTest, UnsupportedAbiVersion) {
  expectLoadError(writeModelDir(), MHMOE_ERROR_RUNTIME,
                  "unsupported compiled library ABI version 1",
                  MHMOE_FAKE_LIB_ABI1);
}

TEST_F(RuntimeTest, NullArguments) {
  EXPECT_EQ(mhmoe_model_load(MHMOE_FAKE_LIB, "x", nullptr),
            MHMOE_ERROR_INVALID_INPUT);
  model = reinterpret_cast<mhmoe_model *>(0x1);
  EXPECT_EQ(mhmoe_model_load(nullptr, "x", &model), MHMOE_ERROR_INVALID_INPUT);
  EXPECT_EQ(model, nullptr);
  EXPECT_EQ(mhmoe_model_load(MHMOE_FAKE_LIB, nullptr, &model),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_NE(std::string(mhmoe_last_error()).find("model_dir"),
            std::string::npos);
  float x = 0;
  EXPECT_EQ(mhmoe_model_run(nullptr, &x, 1, &x, nullptr),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_EQ(mhmoe_model_set_num_threads(nullptr, 1), MHMOE_ERROR_INVALID_INPUT);
  EXPECT_EQ(mhmoe_model_hidden_size(nullptr), 0);
  EXPECT_EQ(mhmoe_model_num_layers(nullptr), 0);
  mhmoe_model_free(nullptr);
}

TEST_F(RuntimeTest, MissingModelDirectory) {
  expectLoadError(path("nonexistent"), MHMOE_ERROR_INVALID_INPUT,
                  "config.json: cannot open file");
}

TEST_F(RuntimeTest, InvalidConfigInModelDir) {
  ModelDirOptions o;
  o.editConfig = [](llvm::json::Object &c) { c["top_k"] = "2"; };
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "config.json: field 'top_k' = \"2\" must be an integer");
}

TEST_F(RuntimeTest, ConfigMismatch) {
  ModelDirOptions o;
  o.editConfig = [](llvm::json::Object &c) { c["top_k"] = 1; };
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "compiled library was built for a different config");
  EXPECT_NE(std::string(mhmoe_last_error())
                .find("'top_k': library has 2, model directory has 1"),
            std::string::npos)
      << mhmoe_last_error();
}

TEST_F(RuntimeTest, ConfigMismatchInDefaultedField) {
  ModelDirOptions o;
  o.editConfig = [](llvm::json::Object &c) { c["norm_eps"] = 1e-5; };
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "'norm_eps'");
}

TEST_F(RuntimeTest, ConfigWithOmittedDefaultsMatches) {
  ModelDirOptions o;
  o.editConfig = [](llvm::json::Object &c) {
    c.erase("norm");
    c.erase("norm_eps");
    c.erase("capacity_factor");
    c.erase("expert_bias");
    c.erase("normalize_top_k");
  };
  ASSERT_EQ(load(writeModelDir(o)), MHMOE_OK) << mhmoe_last_error();
}

TEST_F(RuntimeTest, MissingSafetensorsFile) {
  std::string d = writeModelDir();
  ASSERT_FALSE(llvm::sys::fs::remove(d + "/model.safetensors"));
  expectLoadError(d, MHMOE_ERROR_INVALID_INPUT,
                  "model.safetensors: cannot open file");
}

TEST_F(RuntimeTest, CorruptSafetensorsFile) {
  std::string d = writeModelDir();
  writeFile("model/model.safetensors",
            std::string("\x10\0\0\0\0\0\0\0{\"a\":1,\"b\":2", 21));
  expectLoadError(d, MHMOE_ERROR_INVALID_INPUT, "model.safetensors: header");
}

TEST_F(RuntimeTest, MissingTensor) {
  ModelDirOptions o;
  o.drop.insert("layers.1.experts.fc3.weight");
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "missing tensor 'layers.1.experts.fc3.weight'");
}

TEST_F(RuntimeTest, UnexpectedExtraTensor) {
  ModelDirOptions o;
  o.extra.push_back("layers.0.experts.fc9.weight");
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "unexpected tensor 'layers.0.experts.fc9.weight'");
}

TEST_F(RuntimeTest, TensorNamedInputIsUnexpected) {
  ModelDirOptions o;
  o.extra.push_back("input");
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "unexpected tensor 'input'");
}

TEST_F(RuntimeTest, ShapeMismatch) {
  ModelDirOptions o;
  o.reshape["layers.0.gate.weight"] = {4, 3};
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "model.safetensors: tensor 'layers.0.gate.weight': shape "
                  "[4, 3] does not match expected [4, 4]");
}

TEST_F(RuntimeTest, UnsupportedWeightDType) {
  ModelDirOptions o;
  o.dtype["layers.0.multi_heads.bias"] = DType::I32;
  expectLoadError(writeModelDir(o), MHMOE_ERROR_INVALID_INPUT,
                  "tensor 'layers.0.multi_heads.bias': dtype I32 is not "
                  "supported");
}

TEST_F(RuntimeTest, NumTokensOutOfRange) {
  ASSERT_EQ(load(writeModelDir()), MHMOE_OK) << mhmoe_last_error();
  std::vector<float> in(8), out(8);
  EXPECT_EQ(mhmoe_model_run(model, in.data(), 0, out.data(), nullptr),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_NE(std::string(mhmoe_last_error()).find("num_tokens = 0"),
            std::string::npos);
  EXPECT_EQ(mhmoe_model_run(model, in.data(), -5, out.data(), nullptr),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_EQ(mhmoe_model_run(model, in.data(), int64_t(1) << 40, out.data(),
                            nullptr),
            MHMOE_ERROR_INVALID_INPUT);
}

TEST_F(RuntimeTest, NullOrOverlappingBuffers) {
  ASSERT_EQ(load(writeModelDir()), MHMOE_OK) << mhmoe_last_error();
  std::vector<float> buf(16);
  EXPECT_EQ(mhmoe_model_run(model, nullptr, 1, buf.data(), nullptr),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_EQ(mhmoe_model_run(model, buf.data(), 1, nullptr, nullptr),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_EQ(mhmoe_model_run(model, buf.data(), 1, buf.data() + 4, nullptr),
            MHMOE_ERROR_INVALID_INPUT);
  EXPECT_NE(std::string(mhmoe_last_error()).find("overlap"), std::string::npos);
  // Adjacent, non-overlapping halves are fine.
  EXPECT_EQ(mhmoe_model_run(model, buf.data(), 1, buf.data() + 8, nullptr),
            MHMOE_OK);
}

TEST_F(RuntimeTest, ForwardFailureIsReported) {
  ASSERT_EQ(load(writeModelDir()), MHMOE_OK) << mhmoe_last_error();
  std::vector<float> in(13 * 8), out(13 * 8);
  EXPECT_EQ(mhmoe_model_run(model, in.data(), 13, out.data(), nullptr),
            MHMOE_ERROR_RUNTIME);
  EXPECT_NE(std::string(mhmoe_last_error()).find("failed with code 7"),
            std::string::npos);
}

TEST_F(RuntimeTest, SetNumThreadsWithoutOpenMP) {
  ASSERT_EQ(load(writeModelDir()), MHMOE_OK) << mhmoe_last_error();
  EXPECT_EQ(mhmoe_model_set_num_threads(model, 1), MHMOE_OK);
  EXPECT_EQ(mhmoe_model_set_num_threads(model, 4), MHMOE_ERROR_RUNTIME);
  EXPECT_EQ(mhmoe_model_set_num_threads(model, 0), MHMOE_ERROR_INVALID_INPUT);
  EXPECT_EQ(mhmoe_model_set_num_threads(model, -2), MHMOE_ERROR_INVALID_INPUT);
}

#ifdef MHMOE_FAKE_LIB_OMP
TEST_F(RuntimeTest, SetNumThreadsWithOpenMP) {
  ASSERT_EQ(load(writeModelDir(), MHMOE_FAKE_LIB_OMP), MHMOE_OK)
      << mhmoe_last_error();
  EXPECT_EQ(mhmoe_model_set_num_threads(model, 3), MHMOE_OK)
      << mhmoe_last_error();
  void *h = dlopen(MHMOE_FAKE_LIB_OMP, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr);
  auto maxThreads =
      reinterpret_cast<int (*)(void)>(dlsym(h, "fake_omp_max_threads"));
  ASSERT_NE(maxThreads, nullptr);
  // The count holds for every thread that runs the model (OpenMP's nthreads
  // is per calling thread): applied at the start of each run.
  runAndCheck(2);
  EXPECT_EQ(maxThreads(), 3);
  int seenOnOtherThread = 0;
  std::thread other([&] {
    runAndCheck(2);
    seenOnOtherThread = maxThreads();
  });
  other.join();
  EXPECT_EQ(seenOnOtherThread, 3);
  EXPECT_EQ(mhmoe_model_set_num_threads(model, 1), MHMOE_OK);
  runAndCheck(2);
  EXPECT_EQ(maxThreads(), 1);
  dlclose(h);
}
#endif

TEST(RuntimeVersion, NamesTheReleaseAndTheAbi) {
  EXPECT_EQ(std::string(mhmoe_version()),
            std::string("mhmoe ") + MHMOE_VERSION_STRING +
                " (compiled-library ABI " +
                std::to_string(MHMOE_LIBRARY_ABI_VERSION) + ")");
}

TEST_F(RuntimeTest, LastErrorIsThreadLocal) {
  EXPECT_EQ(mhmoe_model_load(nullptr, nullptr, &model),
            MHMOE_ERROR_INVALID_INPUT);
  std::string mine = mhmoe_last_error();
  EXPECT_NE(mine, "");
  std::string other = "unset";
  std::thread t([&] { other = mhmoe_last_error(); });
  t.join();
  EXPECT_EQ(other, "");
  EXPECT_EQ(std::string(mhmoe_last_error()), mine);
}

TEST_F(RuntimeTest, ReloadAfterFreeAndTwoModelsAtOnce) {
  std::string dir = writeModelDir();
  ASSERT_EQ(load(dir), MHMOE_OK) << mhmoe_last_error();
  mhmoe_model *second = nullptr;
  ASSERT_EQ(mhmoe_model_load(MHMOE_FAKE_LIB, dir.c_str(), &second), MHMOE_OK);
  runAndCheck(2);
  mhmoe_model_free(second);
  runAndCheck(2);
  ASSERT_EQ(load(dir), MHMOE_OK) << mhmoe_last_error();
  runAndCheck(1);
}

//===----------------------------------------------------------------------===//
// CUDA libraries ("target": "cuda").
//===----------------------------------------------------------------------===//

TEST_F(RuntimeTest, CpuModelDevice) {
  EXPECT_STREQ(mhmoe_model_device(nullptr), "");
  EXPECT_EQ(mhmoe_model_last_run_device_ms(nullptr), -1.0);
  ASSERT_EQ(load(writeModelDir()), MHMOE_OK) << mhmoe_last_error();
  EXPECT_STREQ(mhmoe_model_device(model), "cpu");
  EXPECT_EQ(mhmoe_model_last_run_device_ms(model), -1.0);
  runAndCheck(2);
  EXPECT_EQ(mhmoe_model_last_run_device_ms(model), -1.0);
}

TEST_F(RuntimeTest, CudaLibraryWithoutCudaRuntime) {
  expectLoadError(writeModelDir(), MHMOE_ERROR_RUNTIME,
                  "compiled library targets CUDA but does not link the mhmoe "
                  "CUDA runtime (missing mhmoe_cuda_available)",
                  MHMOE_FAKE_LIB_CUDA_NO_RUNTIME);
}

TEST_F(RuntimeTest, CudaModelWithoutDriverFailsCleanly) {
  std::string dir = writeModelDir();
  std::string missing = path("no-such-libcuda.so.1");
  expectChildPassed(runInChild([&]() -> std::string {
    setenv("MHMOE_CUDA_DRIVER_LIBRARY", missing.c_str(), 1);
    for (const char *lib :
         {MHMOE_FAKE_LIB_CUDA, MHMOE_FAKE_LIB_CUDA_BAD_KERNELS,
          MHMOE_FAKE_LIB_CUDA}) {
      mhmoe_model *m = reinterpret_cast<mhmoe_model *>(0x1);
      CHILD_CHECK(mhmoe_model_load(lib, dir.c_str(), &m) ==
                      MHMOE_ERROR_RUNTIME,
                  lib);
      CHILD_CHECK(m == nullptr, lib);
      std::string msg = mhmoe_last_error();
      CHILD_CHECK(contains(msg, "cannot run a CUDA model: no CUDA driver: "),
                  msg);
      CHILD_CHECK(contains(msg, "no-such-libcuda.so.1 could not be loaded"),
                  msg);
    }
    return "";
  }));
}

TEST_F(RuntimeTest, CudaModelWithoutDefaultDriver) {
  std::string dir = writeModelDir();
  expectChildPassed(runInChild([&]() -> std::string {
    unsetenv("MHMOE_CUDA_DRIVER_LIBRARY");
    if (void *cu = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
      dlclose(cu);
      return "SKIP: this machine has a CUDA driver (libcuda.so.1)";
    }
    mhmoe_model *m = nullptr;
    CHILD_CHECK(mhmoe_model_load(MHMOE_FAKE_LIB_CUDA, dir.c_str(), &m) ==
                    MHMOE_ERROR_RUNTIME,
                "load");
    std::string msg = mhmoe_last_error();
    CHILD_CHECK(contains(msg, "cannot run a CUDA model: no CUDA driver: "
                              "libcuda.so.1 could not be loaded ("),
                msg);
    return "";
  }));
}

TEST_F(RuntimeTest, CudaModelKernelLoadFailureIsReportedAtLoad) {
  std::string dir = writeModelDir();
  expectChildPassed(runInChild([&]() -> std::string {
    setenv("MHMOE_CUDA_DRIVER_LIBRARY", MHMOE_FAKE_CUDA_DRIVER_LIB, 1);
    unsetenv("MHMOE_CUDA_DEVICE");
    unsetenv("MHMOE_FAKE_CUDA_MODE");
    mhmoe_model *m = nullptr;
    CHILD_CHECK(mhmoe_model_load(MHMOE_FAKE_LIB_CUDA_BAD_KERNELS, dir.c_str(),
                                 &m) == MHMOE_ERROR_RUNTIME,
                "load");
    std::string msg = mhmoe_last_error();
    CHILD_CHECK(contains(msg, "cannot run a CUDA model: cuModuleLoadData "
                              "failed: CUDA_ERROR_INVALID_IMAGE"),
                msg);
    return "";
  }));
}

// End to end against the fake libcuda, whose device pointers are host
// memory: weights uploaded once, device buffers cached and reused, errors
// recorded by the library reported and cleared, everything freed.
TEST_F(RuntimeTest, CudaModelRunsOnFakeDriver) {
  ModelDirOptions o;
  o.dtype["layers.0.out_proj.bias"] = DType::F16;
  o.dtype["layers.1.out_proj.bias"] = DType::BF16;
  o.misalign = true;
  std::string dir = writeModelDir(o);
  const int weights = static_cast<int>(expectedWeights(fakeModelConfig()).size());
  expectChildPassed(runInChild([&]() -> std::string {
    setenv("MHMOE_CUDA_DRIVER_LIBRARY", MHMOE_FAKE_CUDA_DRIVER_LIB, 1);
    unsetenv("MHMOE_CUDA_DEVICE");
    unsetenv("MHMOE_FAKE_CUDA_MODE");
    // The runtime dlopens the same file, so this is the driver it uses.
    void *driver = dlopen(MHMOE_FAKE_CUDA_DRIVER_LIB, RTLD_NOW | RTLD_LOCAL);
    CHILD_CHECK(driver != nullptr, dlerror());
    auto statsFn = reinterpret_cast<FakeCudaStatsPrefix *(*)()>(
        dlsym(driver, "fakeCudaStats"));
    CHILD_CHECK(statsFn != nullptr, "fakeCudaStats");
    const FakeCudaStatsPrefix &stats = *statsFn();

    mhmoe_model *m = nullptr;
    CHILD_CHECK(mhmoe_model_load(MHMOE_FAKE_LIB_CUDA, dir.c_str(), &m) ==
                    MHMOE_OK,
                mhmoe_last_error());
    CHILD_CHECK(std::string(mhmoe_model_device(m)) == "cuda",
                mhmoe_model_device(m));
    CHILD_CHECK(mhmoe_model_last_run_device_ms(m) == -1.0, "before a run");
    CHILD_CHECK(stats.memAlloc == weights,
                "one device buffer per weight, got " +
                    std::to_string(stats.memAlloc));
    CHILD_CHECK(mhmoe_model_set_num_threads(m, 1) == MHMOE_OK, "n = 1");
    CHILD_CHECK(mhmoe_model_set_num_threads(m, 4) == MHMOE_ERROR_RUNTIME,
                "n = 4");
    CHILD_CHECK(contains(mhmoe_last_error(),
                         "targets CUDA and is not multi-threaded on the host"),
                mhmoe_last_error());

    // Input, output and expert_load buffers, then reused.
    CHILD_RUN(m, 5);
    CHILD_CHECK(mhmoe_model_last_run_device_ms(m) >= 0.0, "device time");
    CHILD_CHECK(stats.memAlloc == weights + 3, std::to_string(stats.memAlloc));
    CHILD_RUN(m, 3, /*withLoad=*/false);
    CHILD_RUN(m, 5); // expert_load zeroed again before the forward
    CHILD_RUN(m, 1);
    CHILD_CHECK(stats.memAlloc == weights + 3, std::to_string(stats.memAlloc));
    CHILD_CHECK(stats.memFree == 0, std::to_string(stats.memFree));
    // More tokens: input and output grow, once.
    CHILD_RUN(m, 9);
    CHILD_RUN(m, 7);
    CHILD_CHECK(stats.memAlloc == weights + 5, std::to_string(stats.memAlloc));
    CHILD_CHECK(stats.memFree == 2, std::to_string(stats.memFree));

    // A CUDA error recorded during the forward is reported, then cleared.
    // (11 and 13 tokens grow the buffers twice more.)
    std::vector<float> in(13 * 8), out(13 * 8);
    CHILD_CHECK(mhmoe_model_run(m, in.data(), 11, out.data(), nullptr) ==
                    MHMOE_ERROR_RUNTIME,
                "recorded error");
    CHILD_CHECK(contains(mhmoe_last_error(),
                         "compiled model forward failed on the CUDA device: "
                         "mhmoe_cuda_upload: null pointer"),
                mhmoe_last_error());
    CHILD_RUN(m, 2);
    CHILD_CHECK(mhmoe_model_run(m, in.data(), 13, out.data(), nullptr) ==
                    MHMOE_ERROR_RUNTIME,
                "forward code");
    CHILD_CHECK(contains(mhmoe_last_error(), "failed with code 7"),
                mhmoe_last_error());
    CHILD_RUN(m, 4);
    CHILD_CHECK(stats.memAlloc == weights + 9, std::to_string(stats.memAlloc));

    // Concurrent runs of one model are serialised.
    std::vector<std::string> results(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20 && results[t].empty(); ++i)
          results[t] = runAndCompare(m, 1 + (t + i) % 9);
      });
    for (std::thread &t : threads)
      t.join();
    for (const std::string &r : results)
      CHILD_CHECK(r.empty(), r);
    CHILD_CHECK(stats.memAlloc == weights + 9, std::to_string(stats.memAlloc));

    mhmoe_model_free(m);
    CHILD_CHECK(stats.memFree == stats.memAlloc,
                "device memory leaked: " + std::to_string(stats.memAlloc) +
                    " allocations, " + std::to_string(stats.memFree) +
                    " frees");
    return "";
  }));
}

// The same against the real driver, where there is a usable device.
TEST_F(RuntimeTest, CudaModelRunsOnRealDevice) {
  std::string dir = writeModelDir();
  expectChildPassed(runInChild([&]() -> std::string {
    unsetenv("MHMOE_CUDA_DRIVER_LIBRARY");
    mhmoe_model *m = nullptr;
    if (mhmoe_model_load(MHMOE_FAKE_LIB_CUDA, dir.c_str(), &m) != MHMOE_OK) {
      std::string msg = mhmoe_last_error();
      CHILD_CHECK(contains(msg, "cannot run a CUDA model: "), msg);
      return "SKIP: " + msg;
    }
    CHILD_RUN(m, 3);
    CHILD_CHECK(mhmoe_model_last_run_device_ms(m) >= 0.0, "device time");
    CHILD_RUN(m, 17);
    CHILD_RUN(m, 2, /*withLoad=*/false);
    mhmoe_model_free(m);
    return "";
  }));
}

} // namespace
