//===- MHMoEExchangeOps.cpp - mhmoe.dispatch / mhmoe.combine verifiers ----===//
//
// The two exchange points of an expert-parallel layer; see MHMoEOps.td.
//
//===----------------------------------------------------------------------===//
#include "OpVerification.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::mhmoe;
using namespace mlir::mhmoe::verification;

/// The routing tables and the counts shared by both ops.
static LogicalResult verifyExchange(Operation *op, int64_t rank, int64_t ranks,
                                    int64_t experts, Value indices,
                                    Value recvCounts, StringRef countsName) {
  if (failed(verifyExpertShard(op, rank, ranks, experts)))
    return failure();
  if (failed(requireStatic(op, "indices", indices, 1, "k",
                           "the choices per sub-token size the send layout")))
    return failure();
  return checkShape(op, countsName, recvCounts, {ranks}, {"ranks"});
}

LogicalResult DispatchOp::verify() {
  if (failed(verifyExchange(*this, getShardRank(), getShardRanks(),
                            getNumExperts(), getIndices(), getRecvCounts(),
                            "recv_counts")))
    return failure();
  if (!rt(getInput()).getElementType().isF32())
    return emitOpError() << "operand 'input' has element type "
                         << rt(getInput()).getElementType()
                         << ", expected f32 (rows travel as f32)";
  int64_t s = rt(getInput()).getDimSize(0), d = rt(getInput()).getDimSize(1);
  int64_t k = rt(getIndices()).getDimSize(1);
  if (failed(checkShape(*this, "indices", getIndices(), {s, k}, {"S", "k"})) ||
      failed(checkShape(*this, "weights", getWeights(), {s, k}, {"S", "k"})))
    return failure();
  double cf = getCapacityFactor().convertToDouble();
  if (!(cf >= 0.0) || !std::isfinite(cf))
    return emitOpError() << "capacity_factor = " << cf
                         << " must be finite and >= 0 (0 means dropless)";
  int64_t r = rt(getRows()).getDimSize(0);
  auto result = [&](StringRef name, Value v, ArrayRef<int64_t> shape,
                    ArrayRef<StringRef> dims) -> LogicalResult {
    auto t = rt(v);
    bool ok = t.getRank() == int64_t(shape.size());
    for (size_t i = 0; ok && i < shape.size(); ++i)
      ok = !conflict(t.getDimSize(i), shape[i]);
    if (ok)
      return success();
    std::string want;
    for (size_t i = 0; i < shape.size(); ++i)
      want += (i ? ", " : "") + dims[i].str() + " = " + dimStr(shape[i]);
    return emitOpError() << "result '" << name << "' has type " << t
                         << ", expected [" << want << "]";
  };
  return failure(failed(result("rows", getRows(), {r, d}, {"R", "d"})) ||
                 failed(result("local_experts", getLocalExperts(), {r, 1},
                               {"R", "1"})) ||
                 failed(result("row_weights", getRowWeights(), {r, 1},
                               {"R", "1"})));
}

LogicalResult CombineOp::verify() {
  if (failed(verifyExchange(*this, getShardRank(), getShardRanks(),
                            getNumExperts(), getIndices(), getRecvCounts(),
                            "recv_counts")))
    return failure();
  auto rows = rt(getRows()), result = rt(getResult());
  if (!rows.getElementType().isF32() || result.getElementType() != rows.getElementType())
    return emitOpError() << "operand 'rows' and the result must be f32, got "
                         << rows << " and " << result;
  if (conflict(result.getDimSize(1), rows.getDimSize(1)))
    return emitOpError() << "result width d = " << dimStr(result.getDimSize(1))
                         << " differs from the width of 'rows' ("
                         << dimStr(rows.getDimSize(1)) << ")";
  if (conflict(result.getDimSize(0), rt(getIndices()).getDimSize(0)))
    return emitOpError() << "result has " << dimStr(result.getDimSize(0))
                         << " rows, expected "
                         << dimStr(rt(getIndices()).getDimSize(0))
                         << " (the sub-tokens of 'indices')";
  if (failed(checkShape(*this, "local_experts", getLocalExperts(),
                        {rows.getDimSize(0), 1}, {"R", "1"})))
    return failure();
  if (getKeptIndices().getType() != getIndices().getType())
    return emitOpError() << "result 'kept_indices' has type "
                         << getKeptIndices().getType()
                         << ", expected the type of 'indices' "
                         << getIndices().getType();
  int64_t e = int64_t(getNumExperts());
  if (rt(getDropped()).getRank() != 1 || conflict(rt(getDropped()).getDimSize(0), e))
    return emitOpError() << "result 'dropped' has type " << getDropped().getType()
                         << ", expected tensor<" << e << "xi64>";
  return success();
}
