//===- NCCLCommunicatorTest.cpp - libMHMoENCCL against a fake NCCL ---------===//
//
// Built twice: with MHMOE_FAKE_NCCL it is a stand-in for libnccl.so.2 and
// libcuda.so.1 together (the few entry points libMHMoENCCL resolves), which
// records every send and receive and performs the group's copies to this
// rank itself at ncclGroupEnd; without it, the tests, which load
// libMHMoENCCL with MHMOE_NCCL_LIBRARY / MHMOE_CUDA_DRIVER_LIBRARY pointing
// at the fake, under a fake MPI table for rank 0 of 2.
//
//===----------------------------------------------------------------------===//
#include <cstddef>
#include <vector>

/// What the fake records, read by the tests through fake_nccl_log().
struct FakeNcclCall {
  int isSend, peer;
  const void *buffer;
  size_t bytes;
};
struct FakeNcclLog {
  std::vector<FakeNcclCall> calls;
  int groups = 0, syncs = 0, inits = 0, destroys = 0;
};

#ifdef MHMOE_FAKE_NCCL
#include <cstdlib>
#include <cstring>

extern "C" {
__attribute__((visibility("default"))) FakeNcclLog *fake_nccl_log() {
  static FakeNcclLog log;
  return &log;
}
static int gRank = 0;
struct FakeNcclId {
  char b[128];
};
static std::vector<FakeNcclCall> gPending;

__attribute__((visibility("default"))) int ncclGetUniqueId(void *id) {
  std::memset(id, 7, 128);
  return 0;
}
__attribute__((visibility("default"))) int
ncclCommInitRank(void **comm, int nranks, FakeNcclId id, int rank) {
  if (std::getenv("FAKE_NCCL_FAIL_INIT"))
    return 5; // ncclInvalidUsage
  gRank = rank;
  *comm = &gRank;
  ++fake_nccl_log()->inits;
  return id.b[0] == 7 ? 0 : 4;
}
__attribute__((visibility("default"))) int ncclCommDestroy(void *) {
  ++fake_nccl_log()->destroys;
  return 0;
}
__attribute__((visibility("default"))) int ncclGroupStart() { return 0; }
__attribute__((visibility("default"))) int ncclGroupEnd() {
  // Sends to this rank land in its receive from this rank.
  for (const FakeNcclCall &s : gPending)
    if (s.isSend && s.peer == gRank)
      for (const FakeNcclCall &r : gPending)
        if (!r.isSend && r.peer == gRank)
          std::memcpy(const_cast<void *>(r.buffer), s.buffer, s.bytes);
  gPending.clear();
  ++fake_nccl_log()->groups;
  return 0;
}
__attribute__((visibility("default"))) int
ncclSend(const void *buf, size_t n, int type, int peer, void *, void *) {
  if (std::getenv("FAKE_NCCL_FAIL_SEND"))
    return 3; // ncclInternalError
  FakeNcclCall c{1, peer, buf, n * (type == 1 ? 1 : 0)};
  gPending.push_back(c);
  fake_nccl_log()->calls.push_back(c);
  return 0;
}
__attribute__((visibility("default"))) int
ncclRecv(void *buf, size_t n, int type, int peer, void *, void *) {
  FakeNcclCall c{0, peer, buf, n * (type == 1 ? 1 : 0)};
  gPending.push_back(c);
  fake_nccl_log()->calls.push_back(c);
  return 0;
}
__attribute__((visibility("default"))) const char *ncclGetErrorString(int r) {
  return r == 5 ? "invalid usage (fake)" : "fake error";
}
// The driver entry points.
__attribute__((visibility("default"))) int cuInit(unsigned) { return 0; }
__attribute__((visibility("default"))) int cuDeviceGet(int *d, int o) {
  *d = o;
  return o < 2 ? 0 : 101; // CUDA_ERROR_INVALID_DEVICE
}
__attribute__((visibility("default"))) int cuDevicePrimaryCtxRetain(void **c, int) {
  *c = &gRank;
  return 0;
}
__attribute__((visibility("default"))) int cuCtxSetCurrent(void *) { return 0; }
__attribute__((visibility("default"))) int cuStreamSynchronize(void *) {
  ++fake_nccl_log()->syncs;
  return 0;
}
}
#else
#include "mhmoe/Runtime/mhmoe_nccl.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

/// Rank 0 of 2: what it sends in the counts exchange comes back as what
/// rank 1 "sent"; broadcasts and reductions are the identity.
struct FakeMPI {
  mhmoe_mpi table{};
  std::vector<int64_t> countsSent;
  int broadcasts = 0;
  int64_t failingRank = 2; // the min of allreduce: no one failed

  FakeMPI() {
    table.interface_version = MHMOE_MPI_INTERFACE_VERSION;
    table.rank = 0;
    table.size = 2;
    table.ctx = this;
    table.exchange_counts = [](void *ctx, const int64_t *send,
                               int64_t *recv) -> int32_t {
      auto &m = *static_cast<FakeMPI *>(ctx);
      m.countsSent.assign(send, send + 2);
      recv[0] = send[0];
      recv[1] = 4;
      return 0;
    };
    table.allreduce_i64 = [](void *ctx, int64_t *v, int64_t n,
                             int32_t op) -> int32_t {
      auto &m = *static_cast<FakeMPI *>(ctx);
      if (op == 2 && n == 1 && m.failingRank < *v)
        *v = m.failingRank;
      return 0;
    };
    table.broadcast = [](void *ctx, void *, int64_t, int32_t) -> int32_t {
      ++static_cast<FakeMPI *>(ctx)->broadcasts;
      return 0;
    };
  }
};

class NCCLCommunicatorTest : public ::testing::Test {
protected:
  void SetUp() override {
    setenv("MHMOE_NCCL_LIBRARY", MHMOE_FAKE_NCCL_LIB, 1);
    setenv("MHMOE_CUDA_DRIVER_LIBRARY", MHMOE_FAKE_NCCL_LIB, 1);
    lib = dlopen(MHMOE_NCCL_LIB, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib, nullptr) << dlerror();
    open = reinterpret_cast<mhmoe_nccl_open_fn>(dlsym(lib, "mhmoe_nccl_open"));
    ASSERT_NE(open, nullptr);
    void *fake = dlopen(MHMOE_FAKE_NCCL_LIB, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(fake, nullptr);
    log = reinterpret_cast<FakeNcclLog *(*)()>(dlsym(fake, "fake_nccl_log"))();
    log->calls.clear();
  }
  void TearDown() override {
    unsetenv("MHMOE_NCCL_LIBRARY");
    unsetenv("MHMOE_CUDA_DRIVER_LIBRARY");
    unsetenv("FAKE_NCCL_FAIL_INIT");
  }
  void *lib = nullptr;
  mhmoe_nccl_open_fn open = nullptr;
  FakeNcclLog *log = nullptr;
  char error[512] = {0};
};

TEST_F(NCCLCommunicatorTest, RowsTravelAsOneGroupOfSendsAndReceives) {
  FakeMPI mpi;
  const mhmoe_nccl *nccl = open(&mpi.table, 1, error, sizeof error);
  ASSERT_NE(nccl, nullptr) << error;
  EXPECT_EQ(nccl->interface_version, MHMOE_NCCL_INTERFACE_VERSION);
  EXPECT_EQ(nccl->device, 1);
  EXPECT_EQ(mpi.broadcasts, 1); // the NCCL id from rank 0

  // Counts go through MPI (host memory).
  int64_t sendRows[2] = {1, 2}, recvRows[2] = {0, 0};
  ASSERT_EQ(nccl->exchange_counts(nccl->ctx, sendRows, recvRows), 0);
  EXPECT_EQ(mpi.countsSent, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(recvRows[0], 1);
  EXPECT_EQ(recvRows[1], 4);

  // Rows of 3 floats: 1 to itself, 2 to rank 1; 1 from itself, 4 from rank 1.
  const int64_t rowBytes = 12;
  std::vector<float> send = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> recv(15, -1.0f);
  ASSERT_EQ(nccl->exchange_rows(nccl->ctx, send.data(), sendRows, recv.data(),
                                recvRows, rowBytes),
            0);
  ASSERT_EQ(log->calls.size(), 4u);
  EXPECT_EQ(log->calls[0].isSend, 1);
  EXPECT_EQ(log->calls[0].peer, 0);
  EXPECT_EQ(log->calls[0].bytes, 12u);
  EXPECT_EQ(log->calls[2].isSend, 1);
  EXPECT_EQ(log->calls[2].peer, 1);
  EXPECT_EQ(log->calls[2].buffer, send.data() + 3);
  EXPECT_EQ(log->calls[2].bytes, 24u);
  EXPECT_EQ(log->calls[3].isSend, 0);
  EXPECT_EQ(log->calls[3].buffer, recv.data() + 3);
  EXPECT_EQ(log->calls[3].bytes, 48u);
  EXPECT_EQ(log->groups, 1);
  EXPECT_GE(log->syncs, 1); // the rows are in place on return
  EXPECT_EQ(recv[0], 1.0f);
  EXPECT_EQ(recv[2], 3.0f);

  // Statistics count only other ranks' rows.
  ASSERT_EQ(nccl->num_exchanges(nccl->ctx), 1);
  const mhmoe_mpi_exchange *e = nccl->exchange(nccl->ctx, 0);
  EXPECT_EQ(e->rows_sent, 2);
  EXPECT_EQ(e->rows_received, 4);
  EXPECT_EQ(e->bytes_sent, 24);
  EXPECT_EQ(e->bytes_received, 48);
  nccl->reset_stats(nccl->ctx);
  EXPECT_EQ(nccl->num_exchanges(nccl->ctx), 0);
  int destroys = log->destroys;
  nccl->close(nccl->ctx);
  EXPECT_EQ(log->destroys, destroys + 1);
}

TEST_F(NCCLCommunicatorTest, AFailedExchangeEndsTheRankWithTheError) {
  FakeMPI mpi; // no abort function: the rank exits by itself
  const mhmoe_nccl *nccl = open(&mpi.table, 0, error, sizeof error);
  ASSERT_NE(nccl, nullptr) << error;
  setenv("FAKE_NCCL_FAIL_SEND", "1", 1);
  int64_t rows[2] = {1, 1};
  std::vector<float> send(8), recv(8);
  EXPECT_EXIT(nccl->exchange_rows(nccl->ctx, send.data(), rows, recv.data(),
                                  rows, 16),
              ::testing::ExitedWithCode(1),
              "mhmoe-nccl: rank 0: ncclSend/ncclRecv failed: fake error");
  unsetenv("FAKE_NCCL_FAIL_SEND");
  nccl->close(nccl->ctx);
}

TEST_F(NCCLCommunicatorTest, MissingNCCLIsAClearError) {
  setenv("MHMOE_NCCL_LIBRARY", "/nonexistent/libnccl.so.2", 1);
  FakeMPI mpi;
  EXPECT_EQ(open(&mpi.table, 0, error, sizeof error), nullptr);
  EXPECT_NE(std::string(error).find("NCCL could not be loaded"),
            std::string::npos)
      << error;
}

TEST_F(NCCLCommunicatorTest, AnotherRanksFailureStopsEveryRank) {
  FakeMPI mpi;
  mpi.failingRank = 1;
  EXPECT_EQ(open(&mpi.table, 0, error, sizeof error), nullptr);
  EXPECT_STREQ(error, "rank 1 could not start the NCCL communicator");
  EXPECT_EQ(mpi.broadcasts, 0); // nobody waits for an id
}

TEST_F(NCCLCommunicatorTest, InitFailureAndBadDeviceNameTheCause) {
  FakeMPI mpi;
  EXPECT_EQ(open(&mpi.table, 7, error, sizeof error), nullptr);
  EXPECT_NE(std::string(error).find("CUDA device 7 is not usable"),
            std::string::npos)
      << error;
  setenv("FAKE_NCCL_FAIL_INIT", "1", 1);
  EXPECT_EQ(open(&mpi.table, 0, error, sizeof error), nullptr);
  EXPECT_STREQ(error, "ncclCommInitRank failed: invalid usage (fake)");
}

} // namespace
#endif
