//===- WeightBinding.cpp - weights to argv, packing, release --------------===//
//
// At load, each weight of the model directory becomes the argv pointer the
// compiled library reads: the stored bytes in place, or a copy converted to
// the manifest's dtype. The packed copies are allocated here and filled by
// the library's mhmoe_pack; what only the packing read is freed after it.
//
//===----------------------------------------------------------------------===//
#include "ModelState.h"
#include "WorkspaceCache.h"

#include "mhmoe/Support/Int8Quantization.h"
#include "mhmoe/Support/Shape.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>

using namespace mhmoe;
using namespace mhmoe::runtime;

namespace {

/// The safetensors dtype of a manifest weight dtype (parseManifest allows
/// only "f32", "bf16", "f16" and "i8" for weights).
DType manifestDType(const std::string &dtype) {
  if (dtype == "bf16")
    return DType::BF16;
  if (dtype == "f16")
    return DType::F16;
  if (dtype == "i8")
    return DType::I8;
  return DType::F32;
}

/// After mhmoe_pack: the weights the library reads only through their packed
/// copies are freed (converted copies) or dropped with the file image, so the
/// model keeps one copy of each weight. The file image goes unless it still
/// serves half of itself in place; what it serves is copied out first.
mhmoe_status releasePackedOnlyWeights(mhmoe_model &m, const std::string &stPath) {
  const uint8_t *fileBegin = m.weights->data();
  const uint8_t *fileEnd = fileBegin + m.weights->size();
  auto inFile = [&](const void *p) {
    auto *b = static_cast<const uint8_t *>(p);
    return b >= fileBegin && b < fileEnd;
  };
  auto bytesOf = [](const ManifestEntry &e) {
    size_t n = dtypeSize(manifestDType(e.dtype));
    for (int64_t d : e.shape)
      n *= static_cast<size_t>(d);
    return n;
  };
  size_t keptInFile = 0;
  for (size_t i = 0; i < m.manifest.inputs.size(); ++i) {
    const ManifestEntry &e = m.manifest.inputs[i];
    void *p = m.argvTemplate[i];
    if (i == m.inputSlot || !p)
      continue;
    if (!e.packedOnly) {
      if (inFile(p))
        keptInFile += bytesOf(e);
      continue;
    }
    if (!inFile(p)) {
      auto it = std::find_if(m.owned.begin(), m.owned.end(),
                             [&](const auto &o) { return o.get() == p; });
      if (it != m.owned.end())
        m.owned.erase(it);
    }
    // Never read by mhmoe_forward (the manifest says so).
    m.argvTemplate[i] = nullptr;
  }
  // Keep the image while it still serves half of itself in place.
  if (keptInFile * 2 >= m.weights->size())
    return MHMOE_OK;
  for (size_t i = 0; i < m.manifest.inputs.size(); ++i) {
    void *p = m.argvTemplate[i];
    if (i == m.inputSlot || !p || !inFile(p))
      continue;
    size_t bytes = bytesOf(m.manifest.inputs[i]);
    void *copy = std::malloc(bytes ? bytes : 1);
    if (!copy)
      return fail(MHMOE_ERROR_RUNTIME,
                  stPath + ": tensor '" + m.manifest.inputs[i].name +
                      "': out of memory (" + std::to_string(bytes) +
                      " bytes)");
    if (bytes)
      std::memcpy(copy, p, bytes);
    m.owned.emplace_back(copy);
    m.argvTemplate[i] = copy;
  }
  m.weights.reset();
  return MHMOE_OK;
}

/// The shape manifest input `e` has in the file: an expert-parallel rank's
/// slice is part of a tensor of all the experts.
std::vector<int64_t> storedShape(const mhmoe_model &m, const ManifestEntry &e) {
  std::vector<int64_t> shape = e.shape;
  if (e.expertSlice)
    shape[0] = m.manifest.config.numExperts;
  return shape;
}

/// Experts [first, first + count) of the stored tensor `t` of all the
/// experts, in place: a view of whole rows of its leading dimension.
TensorInfo expertSliceOf(const TensorInfo &t, const ManifestEntry &e) {
  if (!e.expertSlice || t.shape.empty() || t.shape[0] == 0)
    return t;
  TensorInfo view = t;
  size_t rowBytes = static_cast<size_t>(t.numElements() / t.shape[0]) *
                    dtypeSize(t.dtype);
  view.shape[0] = e.expertSlice->count;
  view.data = t.data + static_cast<size_t>(e.expertSlice->first) * rowBytes;
  view.numBytes = static_cast<uint64_t>(e.expertSlice->count) * rowBytes;
  return view;
}

/// The first row (last dimension = one row) of the expert slice `view` of
/// entry `e` in the stored tensor, for messages that name rows.
uint64_t firstStoredRow(const ManifestEntry &e, const TensorInfo &view) {
  if (!e.expertSlice || view.shape.size() < 2 || view.shape[0] == 0 ||
      view.shape.back() == 0)
    return 0;
  uint64_t rowsPerExpert = uint64_t(view.numElements() / view.shape[0] /
                                    view.shape.back());
  return uint64_t(e.expertSlice->first) * rowsPerExpert;
}

/// Checks the stored tensor of manifest input `e` against the library's
/// expectations.
mhmoe_status checkStoredTensor(const mhmoe_model &m, const TensorInfo *t,
                               const ManifestEntry &e,
                               const std::string &stPath) {
  std::vector<int64_t> want = storedShape(m, e);
  if (!t)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                stPath + ": missing tensor '" + e.name + "' (expected shape " +
                    formatShape(want) + ") required by the compiled library");
  if (t->shape != want)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                stPath + ": tensor '" + e.name + "': shape " +
                    formatShape(t->shape) + " does not match expected " +
                    formatShape(want));
  // A pre-quantized int8 weight is stored as I8 (with its scales).
  if (e.dtype == "i8" && t->dtype == DType::I8)
    return MHMOE_OK;
  if (t->dtype != DType::F32 && t->dtype != DType::F16 &&
      t->dtype != DType::BF16)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                stPath + ": tensor '" + e.name + "': dtype " +
                    dtypeName(t->dtype) +
                    " is not supported; expected F32, F16 or BF16");
  return MHMOE_OK;
}

/// A malloc'd buffer of `bytes` owned by the model, or null (reported).
void *ownedBuffer(mhmoe_model &m, size_t bytes, const std::string &what) {
  void *buf = std::malloc(bytes ? bytes : 1);
  if (!buf) {
    fail(MHMOE_ERROR_RUNTIME,
         what + ": out of memory (" + std::to_string(bytes) + " bytes)");
    return nullptr;
  }
  m.owned.emplace_back(buf);
  return buf;
}

/// Argv slot `i` for the `bytes` at `host`: `host` itself, or on CUDA its
/// uploaded device copy.
mhmoe_status setWeightSlot(mhmoe_model &m, size_t i, const void *host,
                           size_t bytes, const std::string &what) {
  if (!m.cuda) {
    m.argvTemplate[i] = const_cast<void *>(host);
    return MHMOE_OK;
  }
  std::string err;
  if (m.cuda->uploadWeight(host, bytes, m.argvTemplate[i], err))
    return MHMOE_OK;
  return fail(MHMOE_ERROR_RUNTIME, what + ": " + err);
}

/// Argv slot `i` for weight `t`: the stored bytes in place when they are in
/// the manifest's dtype, else a converted copy; on CUDA, uploaded.
mhmoe_status bindWeight(mhmoe_model &m, size_t i, const TensorInfo &t,
                        const std::string &stPath) {
  const ManifestEntry &e = m.manifest.inputs[i];
  DType want = manifestDType(e.dtype);
  size_t bytes = static_cast<size_t>(t.numElements()) * dtypeSize(want);
  std::string what = stPath + ": tensor '" + e.name + "'";
  // Used in place from the file image; the library never writes weights.
  if (t.dtype == want &&
      (m.cuda || reinterpret_cast<uintptr_t>(t.data) % dtypeSize(want) == 0))
    return setWeightSlot(m, i, t.data, bytes, what);
  void *buf = ownedBuffer(m, bytes, what);
  if (!buf)
    return MHMOE_ERROR_RUNTIME;
  if (Status err = copyAs(t, want, buf))
    return fail(MHMOE_ERROR_INVALID_INPUT, stPath + ": " + err.message());
  mhmoe_status s = setWeightSlot(m, i, buf, bytes, what);
  if (m.cuda)
    m.owned.pop_back(); // the host copy is no longer needed
  return s;
}

/// Int8 weight `i` and its scale slot: stored pre-quantized (I8 values and
/// F32 `<name>_scale`), or quantized here from a float tensor.
mhmoe_status bindInt8Weight(mhmoe_model &m, size_t i, size_t scaleSlot,
                            const TensorInfo &t, const std::string &stPath) {
  const ManifestEntry &e = m.manifest.inputs[i];
  const ManifestEntry &se = m.manifest.inputs[scaleSlot];
  const TensorInfo *stored = m.weights->lookup(se.name);
  if (t.dtype == DType::I8 || stored) {
    if (!stored)
      return fail(MHMOE_ERROR_INVALID_INPUT,
                  stPath + ": missing tensor '" + se.name + "' (F32 " +
                      formatShape(se.shape) + "): the I8 weight '" + e.name +
                      "' needs its per-row scales");
    if (t.dtype != DType::I8)
      return fail(MHMOE_ERROR_INVALID_INPUT,
                  stPath + ": tensor '" + se.name + "' is given but '" +
                      e.name + "' is " + dtypeName(t.dtype) +
                      ": a pre-quantized int8 weight is stored as I8");
    if (stored->shape != storedShape(m, se))
      return fail(MHMOE_ERROR_INVALID_INPUT,
                  stPath + ": tensor '" + se.name + "': shape " +
                      formatShape(stored->shape) + " does not match expected " +
                      formatShape(storedShape(m, se)));
    TensorInfo scales = expertSliceOf(*stored, se);
    uint64_t firstScale =
        se.expertSlice && !scales.shape.empty() && scales.shape[0] > 0
            ? uint64_t(se.expertSlice->first) *
                  uint64_t(scales.numElements() / scales.shape[0])
            : 0;
    if (Status err = checkInt8Scales(scales, firstScale))
      return fail(MHMOE_ERROR_INVALID_INPUT, stPath + ": " + err.message());
    if (mhmoe_status s = bindWeight(m, i, t, stPath); s != MHMOE_OK)
      return s;
    return bindWeight(m, scaleSlot, scales, stPath);
  }
  std::string what = stPath + ": tensor '" + e.name + "'";
  size_t rows = t.shape.back() > 0
                    ? static_cast<size_t>(t.numElements() / t.shape.back())
                    : 0;
  auto *values = static_cast<int8_t *>(
      ownedBuffer(m, static_cast<size_t>(t.numElements()), what));
  auto *scales =
      static_cast<float *>(ownedBuffer(m, rows * sizeof(float), what));
  if (!values || !scales)
    return MHMOE_ERROR_RUNTIME;
  if (Status err = quantizeRowsInt8(t, values, scales, firstStoredRow(e, t)))
    return fail(MHMOE_ERROR_INVALID_INPUT, stPath + ": " + err.message());
  mhmoe_status s = setWeightSlot(m, i, values,
                                 static_cast<size_t>(t.numElements()), what);
  if (s == MHMOE_OK)
    s = setWeightSlot(m, scaleSlot, scales, rows * sizeof(float), what);
  if (m.cuda) // both went to the device; the host copies are not needed
    m.owned.resize(m.owned.size() - 2);
  return s;
}

/// The weight inputs: every manifest weight bound, no stored tensor left over.
mhmoe_status bindInputs(mhmoe_model &m, const std::string &stPath) {
  std::set<std::string> wanted;
  // Each int8 weight's scale slot (parseManifest checked it exists); scales
  // are bound with their weight.
  std::map<std::string, size_t> slotOf;
  for (size_t i = 0; i < m.manifest.inputs.size(); ++i)
    slotOf[m.manifest.inputs[i].name] = i;
  std::map<size_t, size_t> scaleSlotOf;
  std::set<size_t> scaleSlots;
  for (size_t i = 0; i < m.manifest.inputs.size(); ++i)
    if (m.manifest.inputs[i].dtype == "i8") {
      size_t slot = slotOf.at(quantizationScaleName(m.manifest.inputs[i].name));
      scaleSlotOf[i] = slot;
      scaleSlots.insert(slot);
    }
  for (size_t i = 0; i < m.manifest.inputs.size(); ++i) {
    const ManifestEntry &e = m.manifest.inputs[i];
    if (e.name == "input") {
      m.inputSlot = i;
      continue;
    }
    wanted.insert(e.name);
    if (scaleSlots.count(i))
      continue;
    const TensorInfo *stored = m.weights->lookup(e.name);
    if (mhmoe_status s = checkStoredTensor(m, stored, e, stPath); s != MHMOE_OK)
      return s;
    // An expert-parallel rank binds (and converts) only its own experts.
    TensorInfo t = expertSliceOf(*stored, e);
    auto scale = scaleSlotOf.find(i);
    mhmoe_status s = scale != scaleSlotOf.end()
                         ? bindInt8Weight(m, i, scale->second, t, stPath)
                         : bindWeight(m, i, t, stPath);
    if (s != MHMOE_OK)
      return s;
  }
  for (const TensorInfo &t : m.weights->tensors())
    if (!wanted.count(t.name))
      return fail(MHMOE_ERROR_INVALID_INPUT,
                  stPath + ": unexpected tensor '" + t.name +
                      "' is not a weight of the compiled model");
  return MHMOE_OK;
}

/// Packed weights: 64-byte aligned buffers here, filled once by the
/// library's own mhmoe_pack; then what only the packing read is released.
mhmoe_status packWeights(mhmoe_model &m, const std::string &stPath) {
  size_t packedBase = m.manifest.inputs.size();
  for (size_t j = 0; j < m.manifest.packed.size(); ++j) {
    const ManifestEntry &e = m.manifest.packed[j];
    int64_t numel = 1;
    for (int64_t d : e.shape)
      if (!checkedMulNonNeg(numel, d, numel))
        return fail(MHMOE_ERROR_RUNTIME,
                    "packed weight '" + e.name + "' is too large");
    size_t bytes =
        static_cast<size_t>(numel) * dtypeSize(manifestDType(e.dtype));
    void *buf = nullptr;
    if (posix_memalign(&buf, 64, bytes ? bytes : 64) != 0 || !buf)
      return fail(MHMOE_ERROR_RUNTIME, "packed weight '" + e.name +
                                           "': out of memory (" +
                                           std::to_string(bytes) + " bytes)");
    m.owned.emplace_back(buf);
    m.argvTemplate[packedBase + j] = buf;
  }
  if (!m.pack || m.cuda)
    return MHMOE_OK;
  auto t0 = std::chrono::steady_clock::now();
  if (m.pack(m.argvTemplate.data()) != 0)
    return fail(MHMOE_ERROR_RUNTIME, "mhmoe_pack failed");
  m.packMs = std::chrono::duration<double, std::milli>(
                 std::chrono::steady_clock::now() - t0)
                 .count();
  // The packers' scratch went through the workspace cache; it is not a
  // run's workspace, so it is not kept.
  workspaceReleaseIdle();
  return releasePackedOnlyWeights(m, stPath);
}

/// The argv slots of the outputs and of each layer's counts.
void recordOutputSlots(mhmoe_model &m) {
  size_t base = m.manifest.inputs.size() + m.manifest.packed.size();
  const int64_t numExperts = m.manifest.config.numExperts;
  for (size_t j = 0; j < m.manifest.outputs.size(); ++j) {
    const ManifestEntry &e = m.manifest.outputs[j];
    if (e.name == "output")
      m.outputSlot = base + j;
    else if (int64_t l = expertLoadLayerIndex(e.name); l >= 0)
      m.countSlots.push_back({base + j, l * numExperts});
    else
      m.countSlots.push_back(
          {base + j, (m.manifest.config.numLayers +
                      expertDroppedLayerIndex(e.name)) * numExperts});
  }
}

} // namespace

mhmoe_status mhmoe::runtime::bindWeights(mhmoe_model &m,
                                         const std::string &stPath) {
  m.argvTemplate.assign(m.manifest.inputs.size() + m.manifest.packed.size() +
                            m.manifest.outputs.size(),
                        nullptr);
  if (mhmoe_status s = bindInputs(m, stPath); s != MHMOE_OK)
    return s;
  if (mhmoe_status s = packWeights(m, stPath); s != MHMOE_OK)
    return s;
  recordOutputSlots(m);
  return MHMOE_OK;
}

SafeTensorsFile::NeededBytes
mhmoe::runtime::neededWeightBytes(const Manifest &manifest) {
  if (!manifest.expertShard.active())
    return {};
  std::map<std::string, ExpertRange> slices;
  for (const ManifestEntry &e : manifest.inputs)
    if (e.expertSlice)
      slices[e.name] = *e.expertSlice;
  const int64_t experts = manifest.config.numExperts;
  return [slices = std::move(slices),
          experts](const TensorInfo &t) -> std::pair<uint64_t, uint64_t> {
    auto it = slices.find(t.name);
    // Tensors of another shape are read whole: binding reports them.
    if (it == slices.end() || t.shape.empty() || t.shape[0] != experts)
      return {0, t.numBytes};
    uint64_t rowBytes = t.numBytes / uint64_t(experts);
    return {uint64_t(it->second.first) * rowBytes,
            uint64_t(it->second.first + it->second.count) * rowBytes};
  };
}
