"""check_import.py MHMOE_IMPORT MHMOE_RUN WORKDIR: tiny random-init transformers models of each importable family
(built here, nothing downloaded) are saved with save_pretrained, imported with mhmoe-import and run with mhmoe-run;
the output must match the same decoder layers' MoE halves, x + mlp(post_attention_layernorm(x)), computed by
transformers in f32. Prints one line per check."""
import os
import subprocess
import sys

import numpy as np
import torch
import transformers

mhmoe_import, mhmoe_run, work = sys.argv[1:4]
torch.manual_seed(0)
SMALL = dict(vocab_size=96, hidden_size=64, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=128)


def families():
    # (name, config, save options, --layers)
    yield "mixtral", transformers.MixtralConfig(**SMALL, num_local_experts=8, num_experts_per_tok=2), {}, None
    yield "mixtral-sharded-bf16", transformers.MixtralConfig(**SMALL, num_local_experts=4, num_experts_per_tok=2), \
        {"max_shard_size": "40KB", "bf16": True}, "2,0"
    yield "olmoe", transformers.OlmoeConfig(**SMALL, num_experts=8, num_experts_per_tok=2, norm_topk_prob=False), \
        {}, None
    yield "qwen3_moe", transformers.Qwen3MoeConfig(**SMALL, num_experts=8, num_experts_per_tok=2,
                                                   moe_intermediate_size=48, norm_topk_prob=True,
                                                   decoder_sparse_step=1, mlp_only_layers=[1]), {}, None
    yield "qwen2_moe", transformers.Qwen2MoeConfig(**SMALL, num_experts=4, num_experts_per_tok=2,
                                                   moe_intermediate_size=32, shared_expert_intermediate_size=40,
                                                   norm_topk_prob=False), {}, None
    yield "deepseek_v3", transformers.DeepseekV3Config(
        **SMALL, n_routed_experts=8, num_experts_per_tok=2, n_group=2, topk_group=1, routed_scaling_factor=2.5,
        n_shared_experts=1, moe_intermediate_size=32, first_k_dense_replace=1, q_lora_rank=None,
        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16), {}, None
    yield "deepseek_v2", transformers.DeepseekV2Config(
        **SMALL, n_routed_experts=8, num_experts_per_tok=3, routed_scaling_factor=1.5, topk_method="greedy",
        n_shared_experts=2, moe_intermediate_size=32, first_k_dense_replace=1, q_lora_rank=None,
        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16), {}, None
    yield "deepseek_v2-groups", transformers.DeepseekV2Config(
        **SMALL, n_routed_experts=8, num_experts_per_tok=2, routed_scaling_factor=1.0,
        topk_method="group_limited_greedy", n_group=4, topk_group=2, n_shared_experts=1,
        moe_intermediate_size=32, first_k_dense_replace=0, q_lora_rank=None,
        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16), {}, None
    yield "gpt_oss", transformers.GptOssConfig(**{**SMALL, "num_key_value_heads": 4}, num_local_experts=4,
                                               num_experts_per_tok=2, head_dim=16), {}, "1"


def moe_half(layer, x):
    block = getattr(layer, "mlp", None) or layer.block_sparse_moe
    y = block(layer.post_attention_layernorm(x)[None])  # blocks take [batch, seq, D]
    return x + (y[0] if isinstance(y, tuple) else y).reshape(x.shape)


def rewrite_fused(ckpt, cfg):
    """A copy of a per-expert Mixtral checkpoint with each layer's experts fused: gate_up_proj [E, 2F, D] (the
    gate rows w1 first, then the up rows w3) and down_proj [E, D, F]."""
    from safetensors.torch import load_file, save_file
    out = ckpt + "-fused"
    os.makedirs(out, exist_ok=True)
    t = load_file(os.path.join(ckpt, "model.safetensors"))
    for i in range(cfg.num_hidden_layers):
        p = "model.layers.%d.block_sparse_moe.experts." % i
        E = cfg.num_local_experts
        w = lambda n: torch.stack([t.pop(p + "%d.%s.weight" % (e, n)) for e in range(E)])  # noqa: E731
        w1, w2, w3 = w("w1"), w("w2"), w("w3")
        t[p + "gate_up_proj"] = torch.cat([w1, w3], dim=1).contiguous()
        t[p + "down_proj"] = w2.contiguous()
    save_file(t, os.path.join(out, "model.safetensors"))
    with open(os.path.join(ckpt, "config.json")) as f, open(os.path.join(out, "config.json"), "w") as g:
        g.write(f.read())
    return out


for name, cfg, save, layers in families():
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():
        for m in model.modules():  # router biases start at zero (DeepSeek-V3, GPT-OSS): make them matter
            for attr in ("e_score_correction_bias", "bias"):
                t = getattr(m, attr, None)
                if type(m).__name__.endswith(("TopkRouter", "TopKRouter")) and isinstance(t, torch.Tensor):
                    t.copy_(torch.randn(t.shape) * 0.05)
            if isinstance(m, torch.nn.RMSNorm) or type(m).__name__.endswith("RMSNorm"):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape))
    ckpt, out = os.path.join(work, name), os.path.join(work, name + "-mhmoe")
    if save.get("bf16"):
        model = model.to(torch.bfloat16)
    model.save_pretrained(ckpt, **({"max_shard_size": save["max_shard_size"]} if "max_shard_size" in save else {}))
    model = model.float()  # the reference computes in f32 from the stored values
    cmd = [mhmoe_import, ckpt, "-o", out] + (["--layers=" + layers] if layers else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    x = torch.randn(13, cfg.hidden_size)
    np.save(os.path.join(work, name + "-x.npy"), x.numpy())
    subprocess.run([mhmoe_run, out, "--input", os.path.join(work, name + "-x.npy"), "--output",
                    os.path.join(work, name + "-y.npy"), "--threads", "2"], check=True, stdout=subprocess.DEVNULL)
    got = torch.from_numpy(np.load(os.path.join(work, name + "-y.npy")))
    decoder = model.model.layers
    with torch.no_grad():
        imported = [int(i) for i in layers.split(",")] if layers else \
            [i for i in range(cfg.num_hidden_layers) if "Dense" not in type(decoder[i].mlp).__name__
             and "MLP" not in type(getattr(decoder[i], "mlp", None) or decoder[i].block_sparse_moe).__name__]
        want = x
        for i in imported:
            want = moe_half(decoder[i], want)
    err = ((got - want).abs() / want.abs().clamp(min=1.0)).max().item()
    if name == "mixtral":  # the same weights in the fused layout transformers 5 holds in memory
        fused = rewrite_fused(ckpt, cfg)
        subprocess.run([mhmoe_import, fused, "-o", fused + "-mhmoe"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([mhmoe_run, fused + "-mhmoe", "--input", os.path.join(work, name + "-x.npy"), "--output",
                        os.path.join(work, "fused-y.npy")], check=True, stdout=subprocess.DEVNULL)
        same = np.array_equal(np.load(os.path.join(work, "fused-y.npy")), got.numpy())
        print("mixtral-fused: experts.gate_up_proj [E, 2F, D] + down_proj [E, D, F], same output %s" % same)
    shards = len([f for f in os.listdir(ckpt) if f.endswith(".safetensors")])
    print("%s: %d shard(s), imported layers %s, within 1e-4 %s" % (name, shards, imported, err <= 1e-4))
    if err > 1e-4:
        print("  max relative error %.3g" % err)

# A tensor in a dtype mhmoe does not read (F64) is named with its file.
cfg = transformers.MixtralConfig(**SMALL, num_local_experts=4, num_experts_per_tok=2)
bad = os.path.join(work, "mixtral-f64")
transformers.AutoModelForCausalLM.from_config(cfg).double().save_pretrained(bad)
r = subprocess.run([mhmoe_import, bad, "-o", os.path.join(work, "f64-out")], capture_output=True, text=True)
print("f64: exit %d, output written %s, %s" % (r.returncode, os.path.exists(os.path.join(work, "f64-out")),
                                              r.stderr.strip().replace(work, "WORK")))
