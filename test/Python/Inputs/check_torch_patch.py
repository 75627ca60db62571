"""check_torch_patch.py TINY_MODEL_DIR: mhmoe.torch.patch on tiny random-init transformers models (no download), one per
supported family, and one with a block it must leave alone. Prints one line per check."""
import os
import sys
import warnings

import numpy as np

import torch
import transformers

import mhmoe
import mhmoe.torch

torch.manual_seed(0)
SMALL = dict(vocab_size=96, hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=128)


def families():
    yield "mixtral", transformers.MixtralConfig(**SMALL, num_local_experts=8, num_experts_per_tok=2)
    yield "olmoe", transformers.OlmoeConfig(**SMALL, num_experts=8, num_experts_per_tok=2, norm_topk_prob=False)
    yield "qwen3_moe", transformers.Qwen3MoeConfig(**SMALL, num_experts=8, num_experts_per_tok=2,
                                                   moe_intermediate_size=48, norm_topk_prob=True,
                                                   decoder_sparse_step=1, mlp_only_layers=[])
    yield "qwen2_moe", transformers.Qwen2MoeConfig(**SMALL, num_experts=4, num_experts_per_tok=2,
                                                   moe_intermediate_size=32, shared_expert_intermediate_size=40,
                                                   norm_topk_prob=False)
    yield "deepseek_v3", transformers.DeepseekV3Config(
        **SMALL, n_routed_experts=8, num_experts_per_tok=2, n_group=2, topk_group=1, routed_scaling_factor=2.5,
        n_shared_experts=1, moe_intermediate_size=32, first_k_dense_replace=1, q_lora_rank=None,
        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16)
    yield "deepseek_v2", transformers.DeepseekV2Config(
        **SMALL, n_routed_experts=8, num_experts_per_tok=3, routed_scaling_factor=1.5, topk_method="greedy",
        n_shared_experts=2, moe_intermediate_size=32, first_k_dense_replace=1, q_lora_rank=None,
        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16)
    yield "deepseek_v2-groups", transformers.DeepseekV2Config(
        **SMALL, n_routed_experts=8, num_experts_per_tok=2, routed_scaling_factor=1.0,
        topk_method="group_limited_greedy", n_group=4, topk_group=2, n_shared_experts=1,
        moe_intermediate_size=32, first_k_dense_replace=0, q_lora_rank=None,
        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16)
    yield "gpt_oss", transformers.GptOssConfig(**{**SMALL, "num_key_value_heads": 4}, num_local_experts=4,
                                               num_experts_per_tok=2, head_dim=16)
    yield "qwen3_moe-k1", transformers.Qwen3MoeConfig(**SMALL, num_experts=4, num_experts_per_tok=1,
                                                      moe_intermediate_size=32, norm_topk_prob=True,
                                                      decoder_sparse_step=1, mlp_only_layers=[])


def logits_close(a, b):
    err = ((a - b).abs() / b.abs().clamp(min=1.0)).max().item()
    return err <= 1e-4, err


for name, cfg in families():
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():
        for m in model.modules():  # router biases start at zero (DeepSeek-V3, GPT-OSS): make them matter
            for attr in ("e_score_correction_bias", "bias"):
                t = getattr(m, attr, None)
                if type(m).__name__.endswith(("TopkRouter", "TopKRouter")) and isinstance(t, torch.Tensor):
                    t.copy_(torch.randn(t.shape) * 0.05)
    ids = torch.randint(0, cfg.vocab_size, (2, 11))
    with torch.no_grad():
        want = model(ids).logits
        want_gen = model.generate(ids[:1], max_new_tokens=8, do_sample=False)
        n = mhmoe.torch.patch(model, threads=2)
        got = model(ids).logits
        got_gen = model.generate(ids[:1], max_new_tokens=8, do_sample=False)
    ok, err = logits_close(got, want)
    print("%s: replaced %d blocks, logits within 1e-4 %s, greedy generate identical %s"
          % (name, n, ok, bool(torch.equal(got_gen, want_gen))))
    if not ok:
        print("  max relative error %.3g" % err)

# A bf16 block keeps its weights in bf16: written as BF16, so the compiled kernels keep them in bf16 as well
# (weights="auto"). Reference: the same block in f32 (its bf16 values widened) on the same input; the
# patched block returns bf16 like the block it replaced, so the two agree to one bf16 rounding.
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock  # noqa: E402

block = MixtralSparseMoeBlock(transformers.MixtralConfig(**SMALL, num_local_experts=8, num_experts_per_tok=2))
with torch.no_grad():
    for p in block.parameters():
        p.copy_(torch.randn(p.shape) * 0.1)
block_bf16 = block.to(torch.bfloat16).eval()
x = torch.randn(1, 16, SMALL["hidden_size"]).to(torch.bfloat16)
with torch.no_grad():
    ref_block = MixtralSparseMoeBlock(transformers.MixtralConfig(**SMALL, num_local_experts=8,
                                                                  num_experts_per_tok=2)).eval()
    ref_block.load_state_dict({k: v.float() for k, v in block_bf16.state_dict().items()})
    want = ref_block(x.float())
    want = want[0] if isinstance(want, tuple) else want
    # matmul_precision="f32": every product exact, so only the output's bf16 rounding remains.
    exact = mhmoe.torch.MoEBlock.from_block(block_bf16, threads=2, matmul_precision="f32")
    got = exact(x)
    got = got[0] if isinstance(got, tuple) else got
    # The default for a bf16 block: bf16 products (AVX512-BF16 where the CPU has it, else f32), as torch
    # computes the block itself; its error against the f32 block is no worse than torch's own bf16 block's.
    fast = mhmoe.torch.MoEBlock.from_block(block_bf16, threads=2)
    got_fast = fast(x)
    got_fast = got_fast[0] if isinstance(got_fast, tuple) else got_fast
    own = block_bf16(x)
    own = own[0] if isinstance(own, tuple) else own


def rel_err(y):
    return ((y.float() - want).abs() / want.abs().clamp(min=1.0)).max().item()


err = rel_err(got)
bf16_dir = mhmoe.torch.export_block(block_bf16, os.path.join(sys.argv[2], "bf16-block"))
with open(os.path.join(bf16_dir, "model.safetensors"), "rb") as f:
    header = __import__("json").loads(f.read(int.from_bytes(f.read(8), "little")))
print("bf16 block: output %s, within one bf16 rounding %s, stored as %s"
      % (got.dtype, err <= 2.0 ** -7, sorted({v["dtype"] for v in header.values()})))
print("bf16 block, bf16 products: output %s, error no worse than transformers' bf16 block %s"
      % (got_fast.dtype, rel_err(got_fast) <= rel_err(own)))
if rel_err(got_fast) > rel_err(own):
    print("  errors: mhmoe %.3g, transformers %.3g" % (rel_err(got_fast), rel_err(own)))

# weights="int8": the experts quantized per row (docs/model-format.md#int8-weights). Reference: the same f32
# block with each expert weight replaced by q * scale, quantized here along each row ([E, out, in] layout).
def int8_dequantized(w):
    scale = w.abs().amax(dim=-1, keepdim=True) / 127.0
    q = torch.where(scale > 0, torch.round(w / scale), torch.zeros_like(w)).clamp(-127, 127)
    return q * scale


block_f32 = MixtralSparseMoeBlock(transformers.MixtralConfig(**SMALL, num_local_experts=8,
                                                              num_experts_per_tok=2)).eval()
with torch.no_grad():
    for p in block_f32.parameters():
        p.copy_(torch.randn(p.shape) * 0.1)
    ref_block = MixtralSparseMoeBlock(transformers.MixtralConfig(**SMALL, num_local_experts=8,
                                                                  num_experts_per_tok=2)).eval()
    ref_block.load_state_dict({k: int8_dequantized(v) if k.startswith("experts.") else v
                               for k, v in block_f32.state_dict().items()})
    x = torch.randn(1, 16, SMALL["hidden_size"])
    want, plain = ref_block(x), block_f32(x)
    want, plain = (want[0], plain[0]) if isinstance(want, tuple) else (want, plain)
    got = mhmoe.torch.MoEBlock.from_block(block_f32, threads=2, weights="int8")(x)
    got = got[0] if isinstance(got, tuple) else got
err = ((got - want).abs() / want.abs().clamp(min=1.0)).max().item()
moved = ((got - plain).abs() / plain.abs().clamp(min=1.0)).max().item()
print("int8 block: within 1e-4 of the int8-dequantized reference %s, differs from f32 %s"
      % (err <= 1e-4, moved > 1e-4))

# A MoE block of a kind mhmoe does not know (experts as a list of Linear modules): left alone, named in a
# warning, the model still works.
class ToyMoE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = torch.nn.Linear(8, 2, bias=False)
        self.experts = torch.nn.ModuleList([torch.nn.Linear(8, 8) for _ in range(2)])


toy = torch.nn.Sequential(ToyMoE())
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    n = mhmoe.torch.patch(toy)
print("toy: replaced %d blocks; warning: %s" % (n, "; ".join(str(x.message) for x in w)[:200]))
# A failure while preparing the blocks (here: the cache is not writable) leaves the model as it was.
cfg = transformers.MixtralConfig(**SMALL, num_local_experts=4, num_experts_per_tok=2)
model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
before = [type(m).__name__ for m in model.modules()]
cache = os.environ["MHMOE_CACHE_DIR"]
os.environ["MHMOE_CACHE_DIR"] = os.path.join(sys.argv[2], "a-file")
try:
    mhmoe.torch.patch(model)
    print("unwritable cache: no error")
except mhmoe.Error as e:
    print("unwritable cache: %s; model unchanged %s"
          % (type(e).__name__, [type(m).__name__ for m in model.modules()] == before))
    print("  message:", e)
os.environ["MHMOE_CACHE_DIR"] = cache
try:
    mhmoe.torch.patch("not a model")
except mhmoe.InvalidInput as e:
    print("error:", e)

# An mhmoe model directory as an nn.Module.
tiny = sys.argv[1]
block = mhmoe.torch.MHMoE.from_pretrained(tiny, threads=2)
x = torch.from_numpy(np.load(os.path.join(tiny, "input.npy")))
ref = torch.from_numpy(np.load(os.path.join(tiny, "expected_output.npy")))
y = block(x.to(torch.float64))
print("from_pretrained: %s %s, max |y - expected| <= 1e-4 %s"
      % (type(block).__name__, y.dtype, bool((y - ref.to(y.dtype)).abs().max() <= 1e-4)))

# The official MH-MoE layer (its module and parameter names): X-MoE Top2Gate with GeLU experts, a linear
# Top1Gate with ReLU experts; padding tokens get out_proj's bias as in the official layer.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_mhmoe as om  # noqa: E402

for name, gate_cls, xmoe, act, heads in [("official-xmoe-top2-gelu", om.Top2Gate, True, torch.nn.functional.gelu, 4),
                                         ("official-linear-top1-relu", om.Top1Gate, False, torch.relu, 2)]:
    D, E, F = 64, 8, 48
    layer = om.MOELayer(gate_cls(D // heads, E, use_xmoe=xmoe),
                        [om.FeedForwardNetwork(D // heads, F, act) for _ in range(E)], D, heads)
    host = torch.nn.Module()
    host.moe_layer = layer.eval()
    exported = mhmoe.torch.export_block(layer, os.path.join(sys.argv[2], name))
    x = torch.randn(2, 7, D)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True
    with torch.no_grad():
        want, _ = host.moe_layer(x, input_padding_mask=pad)
        n = mhmoe.torch.patch(host, threads=2)
        got, l_aux = host.moe_layer(x, input_padding_mask=pad)
    ok, err = logits_close(got, want)
    print("%s: replaced %d blocks, output within 1e-4 %s, l_aux %s" % (name, n, ok, l_aux.item()))
    if not ok:
        print("  max relative error %.3g" % err)
    with torch.no_grad():  # the exported model directory, compiled and run on its own
        y = mhmoe.torch.MHMoE.from_pretrained(exported, threads=2)(x.reshape(-1, D)).reshape(x.shape)
    keep = ~pad
    print("%s: export_block -> %s, within 1e-4 %s"
          % (name, sorted(os.listdir(exported)), logits_close(y[keep], want[keep])[0]))
try:
    mhmoe.torch.export_block(layer, exported)
except mhmoe.InvalidInput as e:
    print("export over an existing directory:", str(e).replace(sys.argv[2], "WORK"))

# Every block ran on torch's own OpenMP team: the patched blocks' libraries are linked for libgomp
# (through libMHMoEGnuOpenMP), and LLVM's libomp was never loaded into the process.
loaded = {line.split()[-1].rsplit("/", 1)[-1] for line in open("/proc/self/maps") if line.count("/")}
print("openmp: torch's %s; mhmoe's %s; libomp loaded %s"
      % (mhmoe._native.process_openmp_runtime(), mhmoe._native.host_openmp_runtime(),
         any(n.startswith("libomp.so") for n in loaded)))
print("bridge loaded:", "libMHMoEGnuOpenMP.so" in loaded)
