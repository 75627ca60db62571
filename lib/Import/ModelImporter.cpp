//===- ModelImporter.cpp - model config -> mhmoe IR -----------------------===//
#include "mhmoe/Import/ModelImporter.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Support/Manifest.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "mhmoe/Support/ExpertShard.h"

using namespace mlir;

namespace {

class Importer {
public:
  Importer(MLIRContext &ctx, const ::mhmoe::ModelConfig &cfg,
           ::mhmoe::WeightPrecision weights, ::mhmoe::ExpertShard shard)
      : ctx(ctx), cfg(cfg), weights(weights), shard(shard), b(&ctx),
        loc(UnknownLoc::get(&ctx)) {}

  OwningOpRef<ModuleOp> run();

private:
  RankedTensorType tokensType() {
    return RankedTensorType::get({ShapedType::kDynamic, cfg.hiddenSize},
                                 b.getF32Type());
  }
  /// The function arguments of weight `w`: matrix weights in the compile's
  /// precision; an int8 one followed by its per-row f32 scales.
  void appendWeightArgs(const ::mhmoe::TensorSpec &w, StringRef name,
                        SmallVectorImpl<Type> &types,
                        SmallVectorImpl<std::string> &names) {
    Type elem = b.getF32Type();
    if (w.matrix && weights == ::mhmoe::WeightPrecision::BF16)
      elem = b.getBF16Type();
    else if (w.matrix && weights == ::mhmoe::WeightPrecision::F16)
      elem = b.getF16Type();
    else if (w.matrix && weights == ::mhmoe::WeightPrecision::Int8)
      elem = b.getI8Type();
    types.push_back(RankedTensorType::get(w.shape, elem));
    names.push_back(name.str());
    if (!elem.isInteger(8))
      return;
    ArrayRef<int64_t> rows = ArrayRef<int64_t>(w.shape).drop_back();
    types.push_back(RankedTensorType::get(rows, b.getF32Type()));
    names.push_back(::mhmoe::quantizationScaleName(name.str()));
  }
  /// Argument `name` of `argMap` as the block reads it: an int8 weight
  /// through mhmoe.dequantize with its scales (fused by the kernels).
  Value lookupWeight(const llvm::StringMap<Value> &argMap, StringRef name) {
    auto it = argMap.find(name);
    if (it == argMap.end())
      return Value();
    auto scale = argMap.find(::mhmoe::quantizationScaleName(name.str()));
    if (scale == argMap.end())
      return it->second;
    auto qType = cast<RankedTensorType>(it->second.getType());
    return mlir::mhmoe::DequantizeOp::create(
        b, loc, RankedTensorType::get(qType.getShape(), b.getF32Type()),
        it->second, scale->second);
  }
  Value weight(int64_t layer, StringRef name) {
    return lookupWeight(args,
                        ("layers." + std::to_string(layer) + "." + name).str());
  }
  Value emptyLike(Value x) {
    auto t = cast<RankedTensorType>(x.getType());
    SmallVector<Value> dyn;
    if (t.isDynamicDim(0))
      dyn.push_back(tensor::DimOp::create(b, loc, x, 0));
    return tensor::EmptyOp::create(b, loc, t, dyn);
  }
  /// Per-token reduction: Σ_j f(x[n, j]) as tensor<?xf32>.
  Value rowSum(Value x, Value center,
               function_ref<Value(OpBuilder &, Location, Value, Value)> f);
  Value norm(Value x, function_ref<Value(StringRef)> weight);
  /// One block `x + MHMoE(norm(x))` (without the residual add when the config
  /// says so) with its routing counts per expert.
  struct BlockResults {
    Value output, load, dropped;
  };
  BlockResults emitBlock(Value x, function_ref<Value(StringRef)> weight);
  /// The dialect's enums have the config's spellings as their cases
  /// (checked by DialectEnumSpellingTest), so they map by name.
  mlir::mhmoe::RouterKind routerKind() const {
    return *mlir::mhmoe::symbolizeRouterKind(::mhmoe::routerKindName(cfg.router));
  }
  mlir::mhmoe::Activation activation() const {
    return *mlir::mhmoe::symbolizeActivation(::mhmoe::activationName(cfg.activation));
  }
  Value residualAdd(Value x, Value y);

  MLIRContext &ctx;
  const ::mhmoe::ModelConfig &cfg;
  ::mhmoe::WeightPrecision weights;
  ::mhmoe::ExpertShard shard;
  OpBuilder b;
  Location loc;
  llvm::StringMap<Value> args;
};

Value Importer::rowSum(
    Value x, Value center,
    function_ref<Value(OpBuilder &, Location, Value, Value)> f) {
  auto vecT = RankedTensorType::get({ShapedType::kDynamic}, b.getF32Type());
  Value n = tensor::DimOp::create(b, loc, x, 0);
  Value init = linalg::FillOp::create(
                   b, loc,
                   ValueRange{arith::ConstantOp::create(b, loc,
                                                        b.getF32FloatAttr(0))},
                   ValueRange{tensor::EmptyOp::create(b, loc, vecT, ValueRange{n})})
                   .getResult(0);
  AffineMap id = b.getMultiDimIdentityMap(2);
  AffineMap row = AffineMap::get(2, 0, b.getAffineDimExpr(0));
  SmallVector<Value> ins = {x};
  SmallVector<AffineMap> maps = {id};
  if (center) {
    ins.push_back(center);
    maps.push_back(row);
  }
  maps.push_back(row);
  return linalg::GenericOp::create(
             b, loc, vecT, ins, ValueRange{init}, maps,
             {utils::IteratorType::parallel, utils::IteratorType::reduction},
             [&](OpBuilder &nb, Location l, ValueRange a) {
               Value c = center ? a[1] : Value();
               Value v = f(nb, l, a[0], c);
               linalg::YieldOp::create(
                   nb, l, arith::AddFOp::create(nb, l, a.back(), v).getResult());
             })
      .getResult(0);
}

Value Importer::norm(Value x, function_ref<Value(StringRef)> weight) {
  if (cfg.norm == ::mhmoe::NormKind::None)
    return x;
  Value w = weight("norm.weight"), bias = weight("norm.bias");
  float invD = 1.0f / float(cfg.hiddenSize);
  float eps = float(cfg.normEps);
  auto cst = [&](OpBuilder &nb, Location l, float v) {
    return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(v)).getResult();
  };
  Value mean;
  if (cfg.norm == ::mhmoe::NormKind::LayerNorm) {
    Value sum = rowSum(x, {}, [](OpBuilder &, Location, Value v, Value) { return v; });
    mean = linalg::GenericOp::create(
               b, loc, sum.getType(), ValueRange{sum}, ValueRange{emptyLike(sum)},
               SmallVector<AffineMap>(2, b.getMultiDimIdentityMap(1)),
               {utils::IteratorType::parallel},
               [&](OpBuilder &nb, Location l, ValueRange a) {
                 linalg::YieldOp::create(
                     nb, l, arith::MulFOp::create(nb, l, a[0], cst(nb, l, invD)).getResult());
               })
               .getResult(0);
  }
  // rmsnorm: mean(x^2); layernorm: mean((x - mean)^2)
  Value sq = rowSum(x, mean, [](OpBuilder &nb, Location l, Value v, Value c) {
    Value t = c ? arith::SubFOp::create(nb, l, v, c).getResult() : v;
    return arith::MulFOp::create(nb, l, t, t).getResult();
  });
  AffineMap id = b.getMultiDimIdentityMap(2);
  AffineMap row = AffineMap::get(2, 0, b.getAffineDimExpr(0));
  AffineMap col = AffineMap::get(2, 0, b.getAffineDimExpr(1));
  SmallVector<Value> ins = {x, sq, w};
  SmallVector<AffineMap> maps = {id, row, col};
  if (mean) {
    ins.push_back(mean);
    maps.push_back(row);
    ins.push_back(bias);
    maps.push_back(col);
  }
  maps.push_back(id);
  return linalg::GenericOp::create(
             b, loc, x.getType(), ins, ValueRange{emptyLike(x)}, maps,
             {utils::IteratorType::parallel, utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location l, ValueRange a) {
               Value v = a[0];
               if (mean)
                 v = arith::SubFOp::create(nb, l, v, a[3]);
               Value var = arith::MulFOp::create(nb, l, a[1], cst(nb, l, invD));
               Value r = math::RsqrtOp::create(
                   nb, l, arith::AddFOp::create(nb, l, var, cst(nb, l, eps)));
               Value out = arith::MulFOp::create(
                   nb, l, arith::MulFOp::create(nb, l, v, r), a[2]);
               if (mean)
                 out = arith::AddFOp::create(nb, l, out, a[4]);
               linalg::YieldOp::create(nb, l, out);
             })
      .getResult(0);
}

Value Importer::residualAdd(Value x, Value y) {
  return linalg::AddOp::create(b, loc, TypeRange{x.getType()}, ValueRange{x, y},
                               ValueRange{emptyLike(x)})
      .getResult(0);
}

Importer::BlockResults
Importer::emitBlock(Value x, function_ref<Value(StringRef)> weight) {
  auto countsType = RankedTensorType::get({cfg.numExperts}, b.getI64Type());
  Value h = norm(x, weight);
  auto layer = mlir::mhmoe::LayerOp::create(
      b, loc, tokensType(), countsType, countsType, h,
      weight("multi_heads.weight"), weight("multi_heads.bias"),
      weight("gate.weight"), weight("gate.bias"),
      weight("experts.fc1.weight"),
      weight("experts.fc2.weight"), weight("experts.fc3.weight"),
      weight("experts.fc1.bias"), weight("experts.fc2.bias"),
      weight("experts.fc3.bias"), weight("shared_experts.fc1.weight"),
      weight("shared_experts.fc2.weight"), weight("shared_experts.fc3.weight"),
      weight("shared_experts.gate.weight"), weight("out_proj.weight"),
      weight("out_proj.bias"), b.getI64IntegerAttr(cfg.heads),
      b.getI64IntegerAttr(cfg.topK),
      mlir::mhmoe::ActivationAttr::get(&ctx, activation()),
      b.getBoolAttr(cfg.normalizeTopK), b.getF64FloatAttr(cfg.capacityFactor),
      mlir::mhmoe::RouterKindAttr::get(&ctx, routerKind()),
      b.getI64IntegerAttr(cfg.routerGroups),
      b.getI64IntegerAttr(cfg.routerTopkGroups),
      b.getF64FloatAttr(cfg.routedScalingFactor),
      b.getI64IntegerAttr(shard.rank), b.getI64IntegerAttr(shard.ranks));
  Value y = cfg.residual ? residualAdd(x, layer.getResult()) : layer.getResult();
  return {y, layer.getExpertLoad(),
          layer.getExpertDropped()};
}

OwningOpRef<ModuleOp> Importer::run() {
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  (*module)->setAttr(mlir::mhmoe::kConfigAttr,
                     b.getStringAttr(::mhmoe::canonicalConfigJSON(cfg)));
  b.setInsertionPointToEnd(module->getBody());

  std::vector<::mhmoe::TensorSpec> weights = ::mhmoe::expectedWeights(cfg);
  // Expert parallelism: this rank's slice of every stacked expert tensor.
  ::mhmoe::ExpertRange held =
      ::mhmoe::expertShardRange(cfg.numExperts, shard.rank, shard.ranks);
  llvm::StringSet<> sliced;
  if (shard.active()) {
    (*module)->setAttr(mlir::mhmoe::kExpertShardAttr,
                       b.getDenseI64ArrayAttr({shard.rank, shard.ranks}));
    for (::mhmoe::TensorSpec &w : weights)
      if (w.perExpert) {
        w.shape[0] = held.count;
        sliced.insert(w.name);
        sliced.insert(::mhmoe::quantizationScaleName(w.name));
      }
  }
  SmallVector<Type> argTypes = {tokensType()};
  SmallVector<std::string> argNames = {"input"};
  for (const ::mhmoe::TensorSpec &w : weights)
    appendWeightArgs(w, w.name, argTypes, argNames);
  SmallVector<Type> resultTypes = {tokensType()};
  SmallVector<std::string> resultNames = {"output"};
  auto countsType = RankedTensorType::get({cfg.numExperts}, b.getI64Type());
  for (int64_t i = 0; i < cfg.numLayers; ++i)
    for (const char *counts : {".expert_load", ".expert_dropped"}) {
      resultTypes.push_back(countsType);
      resultNames.push_back("layers." + std::to_string(i) + counts);
    }
  auto func = func::FuncOp::create(b, loc, "forward",
                                   b.getFunctionType(argTypes, resultTypes));
  for (auto [i, name] : llvm::enumerate(argNames)) {
    func.setArgAttr(i, mlir::mhmoe::kNameAttr, b.getStringAttr(name));
    // Inputs belong to the caller (weights may be read-only mmaps).
    func.setArgAttr(i, "bufferization.writable", b.getBoolAttr(false));
    if (sliced.contains(name))
      func.setArgAttr(i, mlir::mhmoe::kExpertSliceAttr,
                      b.getDenseI64ArrayAttr({held.first, held.count}));
  }
  for (auto [i, name] : llvm::enumerate(resultNames))
    func.setResultAttr(i, mlir::mhmoe::kNameAttr, b.getStringAttr(name));

  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  for (auto [i, name] : llvm::enumerate(argNames))
    args[name] = entry->getArgument(i);

  // All layers share shapes, so with L > 1 one private @mhmoe_block function
  // holds the block and forward calls it per layer: code size and compile
  // time stay flat in L.
  if (cfg.numLayers == 1) {
    BlockResults r = emitBlock(entry->getArgument(0), [&](StringRef name) {
      return weight(0, name);
    });
    func::ReturnOp::create(b, loc, ValueRange{r.output, r.load, r.dropped});
    return module;
  }
  std::string prefix = "layers.0.";
  SmallVector<Type> blockArgTypes = {tokensType()};
  SmallVector<std::string> blockArgNames = {"x"};
  for (const ::mhmoe::TensorSpec &w : weights)
    if (StringRef(w.name).starts_with(prefix))
      appendWeightArgs(w, w.name.substr(prefix.size()), blockArgTypes,
                       blockArgNames);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(func);
  auto blockFn = func::FuncOp::create(
      b, loc, "mhmoe_block",
      b.getFunctionType(blockArgTypes, {tokensType(), countsType, countsType}));
  blockFn.setPrivate();
  for (size_t i = 0; i < blockArgTypes.size(); ++i)
    blockFn.setArgAttr(i, "bufferization.writable", b.getBoolAttr(false));
  Block *body = blockFn.addEntryBlock();
  b.setInsertionPointToStart(body);
  llvm::StringMap<Value> blockArgs;
  for (auto [i, name] : llvm::enumerate(blockArgNames))
    blockArgs[name] = body->getArgument(i);
  BlockResults r = emitBlock(body->getArgument(0), [&](StringRef name) {
    return lookupWeight(blockArgs, name);
  });
  func::ReturnOp::create(b, loc, ValueRange{r.output, r.load, r.dropped});

  b.setInsertionPointToEnd(entry);
  Value x = entry->getArgument(0);
  SmallVector<Value> results = {Value()};
  for (int64_t i = 0; i < cfg.numLayers; ++i) {
    SmallVector<Value> operands = {x};
    for (size_t a = 1; a < blockArgNames.size(); ++a)
      operands.push_back(
          args.lookup("layers." + std::to_string(i) + "." + blockArgNames[a]));
    auto call = func::CallOp::create(b, loc, blockFn, operands);
    x = call.getResult(0);
    results.push_back(call.getResult(1));
    results.push_back(call.getResult(2));
  }
  results[0] = x;
  func::ReturnOp::create(b, loc, results);
  return module;
}

} // namespace

namespace mhmoe {
OwningOpRef<ModuleOp> importModel(MLIRContext &ctx, const ModelConfig &config,
                                  WeightPrecision weights, ExpertShard shard) {
  return Importer(ctx, config, weights, shard).run();
}
} // namespace mhmoe
