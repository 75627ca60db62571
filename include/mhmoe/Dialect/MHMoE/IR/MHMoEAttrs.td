//===- MHMoEAttrs.td - mhmoe enums and attributes ----------*- tablegen -*-===//
#ifndef MHMOE_ATTRS_TD
#define MHMOE_ATTRS_TD

include "mlir/IR/EnumAttr.td"

def MHMoE_ActSwiGLU : I32EnumAttrCase<"swiglu", 0>;
def MHMoE_ActGeLU   : I32EnumAttrCase<"gelu", 1>;
def MHMoE_ActReLU   : I32EnumAttrCase<"relu", 2>;
def MHMoE_ActSwiGLUOAI : I32EnumAttrCase<"swiglu_oai", 3>;

// Expert FFN activation: swiglu = fc2(fc1(x) * silu(fc3(x))),
// gelu = fc2(gelu_erf(fc1(x))), relu = fc2(relu(fc1(x))), swiglu_oai =
// GPT-OSS's clamped form fc2((clamp(fc1(x), -7, 7) + 1) * g * sigmoid(1.702 g))
// with g = min(fc3(x), 7).
def MHMoE_ActivationAttr : I32EnumAttr<"Activation", "expert FFN activation",
    [MHMoE_ActSwiGLU, MHMoE_ActGeLU, MHMoE_ActReLU, MHMoE_ActSwiGLUOAI]> {
  let cppNamespace = "::mlir::mhmoe";
}

def MHMoE_RouterSoftmaxTopK : I32EnumAttrCase<"softmax_topk", 0>;
def MHMoE_RouterSigmoidTopK : I32EnumAttrCase<"sigmoid_topk", 1>;
def MHMoE_RouterTopKSoftmax : I32EnumAttrCase<"topk_softmax", 2>;

// How the router scores experts: softmax_topk = softmax over all experts,
// then top-k (Mixtral, Qwen, OLMoE, MH-MoE); sigmoid_topk = per-expert
// sigmoid, top-k on the scores plus an optional correction bias, optionally
// limited to the best groups of experts (DeepSeek-V3); topk_softmax = the
// top-k logits, then a softmax over those k (GPT-OSS).
def MHMoE_RouterKindAttr : I32EnumAttr<"RouterKind", "router scoring rule",
    [MHMoE_RouterSoftmaxTopK, MHMoE_RouterSigmoidTopK, MHMoE_RouterTopKSoftmax]> {
  let cppNamespace = "::mlir::mhmoe";
}

#endif // MHMOE_ATTRS_TD
