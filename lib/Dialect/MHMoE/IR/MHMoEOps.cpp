//===- MHMoEOps.cpp - mhmoe op verifiers, folders, shape reification ------===//
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "OpVerification.h"
#include "mhmoe/Support/ExpertShard.h"
#include "llvm/Support/MathExtras.h"
#include <cmath>
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::mhmoe;
using namespace mlir::mhmoe::verification;

#include "mhmoe/Dialect/MHMoE/IR/MHMoEEnums.cpp.inc"

#define GET_OP_CLASSES
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

static LogicalResult checkElementType(Operation *op, StringRef name, Value v,
                                      Type expected) {
  Type got = rt(v).getElementType();
  if (got != expected)
    return op->emitOpError() << "operand '" << name << "' has element type "
                             << got << ", expected " << expected
                             << " (the element type of 'input')";
  return success();
}

/// Matrix weights (expert fc1/fc2/fc3, the projections) may be stored in a
/// narrower float than the f32 activations: the kernels widen them in
/// registers. Everything else must match the input's element type.
static LogicalResult checkMatrixWeightType(Operation *op, StringRef name,
                                           Value v, Type activations) {
  Type got = rt(v).getElementType();
  if (got == activations ||
      (activations.isF32() && (got.isBF16() || got.isF16())))
    return success();
  return op->emitOpError() << "operand '" << name << "' has element type "
                           << got << ", expected " << activations
                           << " (the element type of 'input')"
                           << (activations.isF32() ? ", bf16 or f16" : "");
}

static LogicalResult verifyTopK(Operation *op, int64_t topK, int64_t experts,
                                double capacityFactor) {
  if (topK < 1)
    return op->emitOpError() << "top_k = " << topK << " must be >= 1";
  if (!ShapedType::isDynamic(experts) && topK > experts)
    return op->emitOpError() << "top_k = " << topK
                             << " exceeds the number of experts E = "
                             << experts;
  if (!(capacityFactor >= 0.0) || !std::isfinite(capacityFactor))
    return op->emitOpError() << "capacity_factor = " << capacityFactor
                             << " must be finite and >= 0 (0 means dropless)";
  return success();
}

/// The gated activations read a second expert projection, fc3.
static bool usesFc3(Activation act) {
  return act == Activation::swiglu || act == Activation::swiglu_oai;
}

/// The router kind and its parameters (route and layer).
static LogicalResult verifyRouter(Operation *op, RouterKind router,
                                  int64_t numGroups, int64_t topkGroups,
                                  double scaling, Value routerBias,
                                  int64_t experts, int64_t topK,
                                  Type elemType) {
  if (router == RouterKind::topk_softmax && numGroups != 1)
    return op->emitOpError(
        "groups(...) need router(sigmoid_topk) or router(softmax_topk)");
  if (!(scaling > 0) || !std::isfinite(scaling))
    return op->emitOpError() << "scaling_factor = " << scaling
                             << " must be finite and > 0";
  if (numGroups < 1 || topkGroups < 1 || topkGroups > numGroups)
    return op->emitOpError() << "groups(" << numGroups << ", " << topkGroups
                             << ") must satisfy 1 <= T <= G";
  if (routerBias &&
      (failed(checkShape(op, "router_bias", routerBias, {experts},
                         {"E"})) ||
       failed(checkElementType(op, "router_bias", routerBias,
                               elemType))))
    return failure();
  if (numGroups == 1 || ShapedType::isDynamic(experts))
    return success();
  if (experts % numGroups != 0 || experts / numGroups < 2)
    return op->emitOpError() << "groups(" << numGroups << ", " << topkGroups
                             << ") must split E = " << experts
                             << " into equal groups of at least 2 experts";
  if (topK > topkGroups * (experts / numGroups))
    return op->emitOpError() << "top_k = " << topK << " exceeds the "
                             << topkGroups * (experts / numGroups)
                             << " experts of the " << topkGroups
                             << " selected groups";
  return success();
}

/// Expert weight stacks shared by expert_apply and layer.
struct ExpertOperands {
  Value fc1, fc2, fc3, fc1Bias, fc2Bias, fc3Bias;
};

/// Verifies the expert stacks against sub-token width `d` and returns E.
static FailureOr<int64_t> verifyExperts(Operation *op, const ExpertOperands &w,
                                        int64_t d, Activation act,
                                        Type elemType) {
  auto fc1 = rt(w.fc1);
  if (fc1.getRank() != 3)
    return op->emitOpError("operand 'fc1' must have rank 3 [E, F, d]");
  int64_t e = fc1.getDimSize(0), f = fc1.getDimSize(1);
  if (failed(requireStatic(op, "fc1", w.fc1, 0, "E",
                           "the number of experts sizes the routing tables")) ||
      failed(requireStatic(op, "fc1", w.fc1, 1, "F",
                           "the expert width sizes the GEMM tiles")) ||
      failed(requireStatic(op, "fc1", w.fc1, 2, "d",
                           "the sub-token width sizes the GEMM tiles")))
    return failure();
  if (failed(checkShape(op, "fc1", w.fc1, {e, f, d}, {"E", "F", "d"})) ||
      failed(checkShape(op, "fc2", w.fc2, {e, d, f}, {"E", "d", "F"})) ||
      failed(checkMatrixWeightType(op, "fc1", w.fc1, elemType)) ||
      failed(checkMatrixWeightType(op, "fc2", w.fc2, elemType)))
    return failure();
  if (usesFc3(act) && !w.fc3)
    return op->emitOpError() << "activation " << stringifyActivation(act)
                             << " requires operand 'fc3'";
  if (!usesFc3(act) && w.fc3)
    return op->emitOpError() << "operand 'fc3' is only used by gated "
                                "activations, but activation is "
                             << stringifyActivation(act);
  if (w.fc3 && (failed(checkShape(op, "fc3", w.fc3, {e, f, d},
                                  {"E", "F", "d"})) ||
                failed(checkMatrixWeightType(op, "fc3", w.fc3, elemType))))
    return failure();
  if (w.fc1Bias && (failed(checkShape(op, "fc1_bias", w.fc1Bias, {e, f},
                                      {"E", "F"})) ||
                    failed(checkElementType(op, "fc1_bias", w.fc1Bias,
                                            elemType))))
    return failure();
  if (w.fc2Bias && (failed(checkShape(op, "fc2_bias", w.fc2Bias, {e, d},
                                      {"E", "d"})) ||
                    failed(checkElementType(op, "fc2_bias", w.fc2Bias,
                                            elemType))))
    return failure();
  if (w.fc3Bias) {
    if (!w.fc3)
      return op->emitOpError("operand 'fc3_bias' requires operand 'fc3'");
    if (failed(checkShape(op, "fc3_bias", w.fc3Bias, {e, f}, {"E", "F"})) ||
        failed(checkElementType(op, "fc3_bias", w.fc3Bias, elemType)))
      return failure();
  }
  return e;
}

/// Verifies the optional shared expert of a layer: `[1, Fs, d]` fc1 (and fc3
/// for swiglu), `[1, d, Fs]` fc2, `[1, d]` gate.
static LogicalResult verifySharedExpert(Operation *op, Value fc1, Value fc2,
                                        Value fc3, Value gate, int64_t d,
                                        Activation act, Type elemType) {
  if (!fc1 && !fc2 && !fc3 && !gate)
    return success();
  if (!fc1 || !fc2)
    return op->emitOpError("a shared expert needs operands 'shared_fc1' and "
                           "'shared_fc2'");
  if (bool(fc3) != usesFc3(act))
    return op->emitOpError() << "operand 'shared_fc3' is needed exactly when "
                                "the activation is gated (it is "
                             << stringifyActivation(act) << ")";
  if (failed(requireStatic(op, "shared_fc1", fc1, 1, "Fs",
                           "the shared expert width sizes the GEMM tiles")))
    return failure();
  int64_t fs = rt(fc1).getDimSize(1);
  for (auto [name, v, shape, dims] :
       {std::tuple<StringRef, Value, SmallVector<int64_t>, SmallVector<StringRef>>{
            "shared_fc1", fc1, {1, fs, d}, {"1", "Fs", "d"}},
        {"shared_fc2", fc2, {1, d, fs}, {"1", "d", "Fs"}},
        {"shared_fc3", fc3, {1, fs, d}, {"1", "Fs", "d"}},
        {"shared_gate", gate, {1, d}, {"1", "d"}}})
    if (v && (failed(checkShape(op, name, v, shape, dims)) ||
              failed(name == "shared_gate"
                         ? checkElementType(op, name, v, elemType)
                         : checkMatrixWeightType(op, name, v, elemType))))
      return failure();
  return success();
}

/// Verifies a split of `[N, D]` tokens into `[S, d]` sub-tokens by `heads`.
static LogicalResult verifySplit(Operation *op, int64_t heads,
                                 RankedTensorType tokens,
                                 RankedTensorType subTokens,
                                 StringRef tokensName, StringRef subName) {
  int64_t n = tokens.getDimSize(0), dModel = tokens.getDimSize(1);
  int64_t s = subTokens.getDimSize(0), d = subTokens.getDimSize(1);
  if (ShapedType::isDynamic(dModel))
    return op->emitOpError() << "'" << tokensName
                             << "' channel dimension D must be static";
  if (dModel % heads != 0)
    return op->emitOpError() << "'" << tokensName << "' channel dimension D = "
                             << dModel << " is not divisible by heads = "
                             << heads;
  if (conflict(d, dModel / heads))
    return op->emitOpError() << "'" << subName << "' width d is " << d
                             << ", expected D / heads = " << dModel << " / "
                             << heads << " = " << dModel / heads;
  int64_t expectedSub = 0;
  if (!ShapedType::isDynamic(n) && llvm::MulOverflow(n, heads, expectedSub))
    return op->emitOpError() << "'" << tokensName << "' has " << n
                             << " tokens; N * heads = " << n << " * " << heads
                             << " overflows a 64-bit size";
  if (!ShapedType::isDynamic(n) && conflict(s, expectedSub))
    return op->emitOpError() << "'" << subName << "' has " << s
                             << " sub-tokens, expected N * heads = " << n
                             << " * " << heads << " = " << expectedSub;
  if (!ShapedType::isDynamic(s) && s % heads != 0)
    return op->emitOpError() << "'" << subName << "' has " << s
                             << " sub-tokens, not a multiple of heads = "
                             << heads;
  if (!ShapedType::isDynamic(s) && conflict(n, s / heads))
    return op->emitOpError() << "'" << tokensName << "' has " << n
                             << " tokens, expected sub-tokens / heads = " << s
                             << " / " << heads << " = " << s / heads;
  if (tokens.getElementType() != subTokens.getElementType())
    return op->emitOpError() << "element types differ: " << tokensName << " "
                             << tokens.getElementType() << " vs " << subName
                             << " " << subTokens.getElementType();
  return success();
}

static Value dimValue(OpBuilder &b, Location loc, Value t, int64_t i) {
  return b.createOrFold<tensor::DimOp>(loc, t, i);
}

static OpFoldResult staticOrDim(OpBuilder &b, Location loc, Value t,
                                int64_t i) {
  int64_t s = rt(t).getDimSize(i);
  if (!ShapedType::isDynamic(s))
    return b.getIndexAttr(s);
  return dimValue(b, loc, t, i);
}

//===----------------------------------------------------------------------===//
// head_split / merge
//===----------------------------------------------------------------------===//

LogicalResult HeadSplitOp::verify() {
  return verifySplit(*this, getHeads(), rt(getInput()), rt(getResult()),
                     "input", "result");
}

OpFoldResult HeadSplitOp::fold(FoldAdaptor) {
  // head_split(merge(y)) -> y when both use the same number of heads.
  if (auto merge = getInput().getDefiningOp<MergeOp>())
    if (merge.getHeads() == getHeads() &&
        merge.getInput().getType() == getType())
      return merge.getInput();
  if (getHeads() == 1 && getInput().getType() == getType())
    return getInput();
  return {};
}

LogicalResult
HeadSplitOp::reifyResultShapes(OpBuilder &b,
                               ReifiedRankedShapedTypeDims &shapes) {
  Location loc = getLoc();
  RankedTensorType out = rt(getResult());
  OpFoldResult rows;
  if (!out.isDynamicDim(0)) {
    rows = b.getIndexAttr(out.getDimSize(0));
  } else {
    Value n = dimValue(b, loc, getInput(), 0);
    Value h = arith::ConstantIndexOp::create(b, loc, getHeads());
    rows = b.createOrFold<arith::MulIOp>(loc, n, h);
  }
  shapes.push_back({rows, b.getIndexAttr(out.getDimSize(1))});
  return success();
}

LogicalResult MergeOp::verify() {
  return verifySplit(*this, getHeads(), rt(getResult()), rt(getInput()),
                     "result", "input");
}

OpFoldResult MergeOp::fold(FoldAdaptor) {
  // merge(head_split(x)) -> x when both use the same number of heads.
  if (auto split = getInput().getDefiningOp<HeadSplitOp>())
    if (split.getHeads() == getHeads() &&
        split.getInput().getType() == getType())
      return split.getInput();
  if (getHeads() == 1 && getInput().getType() == getType())
    return getInput();
  return {};
}

LogicalResult MergeOp::reifyResultShapes(OpBuilder &b,
                                         ReifiedRankedShapedTypeDims &shapes) {
  Location loc = getLoc();
  RankedTensorType out = rt(getResult());
  OpFoldResult rows;
  if (!out.isDynamicDim(0)) {
    rows = b.getIndexAttr(out.getDimSize(0));
  } else {
    Value s = dimValue(b, loc, getInput(), 0);
    Value h = arith::ConstantIndexOp::create(b, loc, getHeads());
    rows = b.createOrFold<arith::DivUIOp>(loc, s, h);
  }
  shapes.push_back({rows, b.getIndexAttr(out.getDimSize(1))});
  return success();
}

//===----------------------------------------------------------------------===//
// route
//===----------------------------------------------------------------------===//

/// A per-expert count result (`expert_load`, `dropped`) must be `[E]`.
static LogicalResult verifyPerExpertCounts(Operation *op, StringRef name,
                                           Value counts, int64_t e) {
  if (!counts)
    return success();
  int64_t got = rt(counts).getDimSize(0);
  if (ShapedType::isDynamic(got))
    return op->emitOpError() << "result '" << name
                             << "' must have a static size (E = " << e << ")";
  if (conflict(got, e))
    return op->emitOpError() << "result '" << name << "' has " << got
                             << " entries, expected E = " << e;
  return success();
}

LogicalResult RouteOp::verify() {
  auto x = rt(getInput()), gate = rt(getGate());
  int64_t s = x.getDimSize(0), d = x.getDimSize(1), e = gate.getDimSize(0);
  if (failed(requireStatic(*this, "gate", getGate(), 0, "E",
                           "the number of experts sizes the routing tables")) ||
      failed(requireStatic(*this, "input", getInput(), 1, "d",
                           "the sub-token width sizes the gate GEMV")))
    return failure();
  if (failed(checkShape(*this, "gate", getGate(), {e, d}, {"E", "d"})) ||
      failed(checkElementType(*this, "gate", getGate(), x.getElementType())) ||
      failed(verifyTopK(*this, getTopK(), e,
                        getCapacityFactor().convertToDouble())) ||
      failed(verifyRouter(*this, getRouter(), getNumGroups(), getTopkGroups(),
                          getScalingFactor().convertToDouble(),
                          getRouterBias(), e, getTopK(),
                          x.getElementType())))
    return failure();
  for (auto [name, v] : {std::pair<StringRef, Value>{"indices", getIndices()},
                         {"weights", getWeights()}}) {
    auto t = rt(v);
    if (conflict(t.getDimSize(0), s) || conflict(t.getDimSize(1), getTopK()))
      return emitOpError() << "result '" << name << "' has shape ["
                           << dimStr(t.getDimSize(0)) << ", "
                           << dimStr(t.getDimSize(1)) << "], expected ["
                           << dimStr(s) << ", " << getTopK() << "]";
  }
  return verifyPerExpertCounts(*this, "dropped", getDropped(), e);
}

LogicalResult RouteOp::reifyResultShapes(OpBuilder &b,
                                         ReifiedRankedShapedTypeDims &shapes) {
  OpFoldResult rows = staticOrDim(b, getLoc(), getInput(), 0);
  shapes.push_back({rows, b.getIndexAttr(getTopK())});
  shapes.push_back({rows, b.getIndexAttr(getTopK())});
  if (getDropped())
    shapes.push_back({b.getIndexAttr(rt(getGate()).getDimSize(0))});
  return success();
}

//===----------------------------------------------------------------------===//
// expert_apply
//===----------------------------------------------------------------------===//

LogicalResult ExpertApplyOp::verify() {
  auto x = rt(getInput());
  int64_t s = x.getDimSize(0), d = x.getDimSize(1);
  auto idx = rt(getIndices());
  int64_t k = idx.getDimSize(1);
  if (failed(requireStatic(*this, "indices", getIndices(), 1, "k",
                           "the choices per sub-token size the pair tables")))
    return failure();
  if (conflict(idx.getDimSize(0), s))
    return emitOpError() << "operand 'indices' has " << idx.getDimSize(0)
                         << " rows, expected " << s
                         << " (the sub-tokens of 'input')";
  if (failed(checkShape(*this, "weights", getWeights(), {s, k}, {"S", "k"})))
    return failure();
  ExpertOperands w{getFc1(),     getFc2(),     getFc3(),
                   getFc1Bias(), getFc2Bias(), getFc3Bias()};
  if (failed(verifyExperts(*this, w, d, getActivation(), x.getElementType())))
    return failure();
  // A rank of an expert-parallel layer may hold no experts (E = 0): its
  // expert_apply then gets no rows.
  if (!ShapedType::isDynamic(k) && getNumExperts() > 0 &&
      failed(verifyTopK(*this, k, getNumExperts(), 0.0)))
    return failure();
  if (getResult().getType() != x)
    return emitOpError() << "result type " << getResult().getType()
                         << " must equal the input type " << x;
  return success();
}

LogicalResult
ExpertApplyOp::reifyResultShapes(OpBuilder &b,
                                 ReifiedRankedShapedTypeDims &shapes) {
  shapes.push_back({staticOrDim(b, getLoc(), getInput(), 0),
                    staticOrDim(b, getLoc(), getInput(), 1)});
  return success();
}

//===----------------------------------------------------------------------===//
// layer
//===----------------------------------------------------------------------===//

LogicalResult LayerOp::verify() {
  auto x = rt(getInput());
  Type elem = x.getElementType();
  int64_t dModel = x.getDimSize(1);
  if (ShapedType::isDynamic(dModel))
    return emitOpError("'input' channel dimension D must be static");
  if (dModel % getHeads() != 0)
    return emitOpError() << "'input' channel dimension D = " << dModel
                         << " is not divisible by heads = " << getHeads();
  int64_t d = dModel / getHeads();
  // The format parses each projection's weight and bias as one group; the
  // generic form could still give one without the other.
  if (bool(getHeadWeight()) != bool(getHeadBias()) ||
      bool(getOutWeight()) != bool(getOutBias()))
    return emitOpError("a projection needs both its weight and its bias");
  if (getHeadWeight() &&
      (failed(checkShape(*this, "head_weight", getHeadWeight(),
                         {dModel, dModel}, {"D_out", "D_in"})) ||
       failed(checkShape(*this, "head_bias", getHeadBias(), {dModel}, {"D"}))))
    return failure();
  if (getOutWeight() &&
      (failed(checkShape(*this, "out_weight", getOutWeight(), {dModel, dModel},
                         {"D_out", "D_in"})) ||
       failed(checkShape(*this, "out_bias", getOutBias(), {dModel}, {"D"}))))
    return failure();
  for (auto [name, v] :
       {std::pair<StringRef, Value>{"head_bias", getHeadBias()},
        {"gate", getGate()},
        {"out_bias", getOutBias()}})
    if (v && failed(checkElementType(*this, name, v, elem)))
      return failure();
  for (auto [name, v] :
       {std::pair<StringRef, Value>{"head_weight", getHeadWeight()},
        {"out_weight", getOutWeight()}})
    if (v && failed(checkMatrixWeightType(*this, name, v, elem)))
      return failure();
  int64_t e = rt(getGate()).getDimSize(0);
  if (failed(requireStatic(*this, "gate", getGate(), 0, "E",
                           "the number of experts sizes the routing tables")) ||
      failed(checkShape(*this, "gate", getGate(), {e, d}, {"E", "d"})))
    return failure();
  ExpertOperands w{getFc1(),     getFc2(),     getFc3(),
                   getFc1Bias(), getFc2Bias(), getFc3Bias()};
  FailureOr<int64_t> experts = verifyExperts(*this, w, d, getActivation(), elem);
  if (failed(experts) ||
      failed(verifySharedExpert(*this, getSharedFc1(), getSharedFc2(),
                                getSharedFc3(), getSharedGate(), d,
                                getActivation(), elem)))
    return failure();
  if (failed(verifyExpertShard(*this, getShardRank(), getShardRanks(), e)))
    return failure();
  int64_t held = ::mhmoe::expertShardRange(e, getShardRank(), getShardRanks()).count;
  if (getShardRanks() > 1 && conflict(*experts, held))
    return emitOpError() << "operand 'fc1' has " << *experts
                         << " experts but shard(" << getShardRank() << " of "
                         << getShardRanks() << ") holds " << held << " of the "
                         << e << " the gate scores";
  if (getShardRanks() == 1 && conflict(*experts, e))
    return emitOpError() << "operand 'fc1' has E = " << *experts
                         << " experts but 'gate' has E = " << e;
  if (failed(verifyTopK(*this, getTopK(), e,
                        getCapacityFactor().convertToDouble())) ||
      failed(verifyRouter(*this, getRouter(), getNumGroups(), getTopkGroups(),
                          getScalingFactor().convertToDouble(),
                          getRouterBias(), e, getTopK(), elem)))
    return failure();
  if (getResult().getType() != x)
    return emitOpError() << "result type " << getResult().getType()
                         << " must equal the input type " << x;
  if (failed(verifyPerExpertCounts(*this, "expert_load", getExpertLoad(), e)))
    return failure();
  return verifyPerExpertCounts(*this, "expert_dropped", getExpertDropped(), e);
}

LogicalResult LayerOp::reifyResultShapes(OpBuilder &b,
                                         ReifiedRankedShapedTypeDims &shapes) {
  shapes.push_back({staticOrDim(b, getLoc(), getInput(), 0),
                    staticOrDim(b, getLoc(), getInput(), 1)});
  for (Value counts : {getExpertLoad(), getExpertDropped()})
    if (counts)
      shapes.push_back({b.getIndexAttr(rt(getGate()).getDimSize(0))});
  return success();
}

//===----------------------------------------------------------------------===//
// expert_load
//===----------------------------------------------------------------------===//

LogicalResult ExpertLoadOp::verify() {
  int64_t got = rt(getResult()).getDimSize(0);
  if (ShapedType::isDynamic(got))
    return emitOpError() << "result must have a static size (num_experts = "
                         << getNumExperts() << ")";
  if (conflict(got, getNumExperts()))
    return emitOpError() << "result has " << got
                         << " entries, expected num_experts = "
                         << getNumExperts();
  return success();
}

LogicalResult
ExpertLoadOp::reifyResultShapes(OpBuilder &b,
                                ReifiedRankedShapedTypeDims &shapes) {
  shapes.push_back({b.getIndexAttr(getNumExperts())});
  return success();
}

//===----------------------------------------------------------------------===//
// dequantize
//===----------------------------------------------------------------------===//

LogicalResult DequantizeOp::verify() {
  RankedTensorType values = rt(getValues());
  if (values.getRank() < 2)
    return emitOpError() << "operand 'values' must have rank >= 2 (rows of "
                            "output channels), got "
                         << values.getRank();
  // scale: the shape of values without its last (input-channel) dimension.
  ArrayRef<int64_t> rows = values.getShape().drop_back();
  SmallVector<std::string> names;
  for (size_t i = 0; i < rows.size(); ++i)
    names.push_back("values dim " + std::to_string(i));
  SmallVector<StringRef> nameRefs(names.begin(), names.end());
  if (failed(checkShape(*this, "scale", getScale(), rows, nameRefs)))
    return failure();
  RankedTensorType result = rt(getResult());
  bool same = result.getRank() == values.getRank();
  for (int64_t i = 0; same && i < values.getRank(); ++i)
    same = !conflict(result.getDimSize(i), values.getDimSize(i));
  if (!same)
    return emitOpError() << "result type " << result
                         << " must have the shape of 'values' " << values;
  return success();
}
