//===- MHMoEAttrs.td - mhmoe enums and attributes ----------*- tablegen -*-===//
#ifndef MHMOE_ATTRS_TD
#define MHMOE_ATTRS_TD

include "mlir/IR/EnumAttr.td"

def MHMoE_ActSwiGLU : I32EnumAttrCase<"swiglu", 0>;
def MHMoE_ActGeLU   : I32EnumAttrCase<"gelu", 1>;
def MHMoE_ActReLU   : I32EnumAttrCase<"relu", 2>;

// Expert FFN activation: swiglu = fc2(fc1(x) * silu(fc3(x))),
// gelu = fc2(gelu_erf(fc1(x))), relu = fc2(relu(fc1(x))).
def MHMoE_ActivationAttr : I32EnumAttr<"Activation", "expert FFN activation",
    [MHMoE_ActSwiGLU, MHMoE_ActGeLU, MHMoE_ActReLU]> {
  let cppNamespace = "::mlir::mhmoe";
}

def MHMoE_RouterSoftmaxTopK : I32EnumAttrCase<"softmax_topk", 0>;
def MHMoE_RouterSigmoidTopK : I32EnumAttrCase<"sigmoid_topk", 1>;

// How the router scores experts: softmax_topk = softmax over all experts,
// then top-k (Mixtral, Qwen, OLMoE, MH-MoE); sigmoid_topk = per-expert
// sigmoid, top-k on the scores plus an optional correction bias, optionally
// limited to the best groups of experts (DeepSeek-V3).
def MHMoE_RouterKindAttr : I32EnumAttr<"RouterKind", "router scoring rule",
    [MHMoE_RouterSoftmaxTopK, MHMoE_RouterSigmoidTopK]> {
  let cppNamespace = "::mlir::mhmoe";
}

#endif // MHMOE_ATTRS_TD
