"""compare_transformers.py: one transformers 5.x MoE block against the same block after
mhmoe.torch.patch, side by side in one process (issue #14's targets).

Shapes: OLMoE-like (D=2048, E=64, k=8, F=1024) and Mixtral-like scaled to fit (D=1024, E=8, k=2,
F=3584), f32 (or bf16 with --dtype bf16), at 1 and 512 tokens, on --threads threads. transformers is timed with each of its experts
implementations (eager, batched_mm, grouped_mm) and the best is the baseline. Also printed: the
bandwidth bound of a decode call (the bytes of the k routed experts' weights over the read bandwidth
measured in the same run) and the end-to-end forward time of a tiny 2-layer model of each family (the
block's shape, 8 attention heads, vocabulary 128, random init; the logits of one forward over the tokens,
no cache) before and after mhmoe.torch.patch, with transformers' fastest experts implementation of the
block runs; patched twice, on torch's OpenMP team (the default) and with libomp beside it.

Run with the venv of scripts/torch-venv.sh and PYTHONPATH pointing at an installed mhmoe package
(bench/run-transformers.sh does both).
"""
import argparse
import copy
import statistics
import time

import torch
import transformers

import mhmoe.torch


def median_ms(fn, iters, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def read_bandwidth_gbs():
    a = torch.ones(256 * 1024 * 1024 // 4)  # 256 MiB
    ms = median_ms(lambda: a.sum(), 7)
    return a.numel() * 4 / (ms * 1e-3) / 1e9


def init_(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return module


SHAPES = {
    "olmoe-like D2048-E64-k8-F1024": (transformers.OlmoeConfig, "olmoe",
                                      dict(hidden_size=2048, intermediate_size=1024, num_experts=64,
                                           num_experts_per_tok=8, norm_topk_prob=False)),
    "mixtral-like D1024-E8-k2-F3584": (transformers.MixtralConfig, "mixtral",
                                       dict(hidden_size=1024, intermediate_size=3584, num_local_experts=8,
                                            num_experts_per_tok=2)),
}


def block_of(config_cls, family, kw, impl):
    cfg = config_cls(**kw, num_hidden_layers=1, num_attention_heads=8, num_key_value_heads=8,
                     vocab_size=128)
    cfg._experts_implementation = impl
    if family == "olmoe":
        from transformers.models.olmoe.modeling_olmoe import OlmoeSparseMoeBlock as B
    else:
        from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock as B
    return init_(B(cfg), 1).eval(), cfg


def model_of(config_cls, kw, impl, dtype):
    """The tiny 2-layer causal LM of a block's family (random init, in `dtype`)."""
    cfg = config_cls(**kw, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=8,
                     vocab_size=128)
    cfg._experts_implementation = impl
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    return init_(model, 2).to(dtype).eval()


def end_to_end(name, config_cls, kw, impl, dtype, tokens, threads, iters, rounds=5):
    """Forward time of the tiny model: unpatched, patched on torch's OpenMP team (mhmoe.torch's default)
    and patched for LLVM's libomp (two thread teams in the process), at each token count; the three are
    timed in turns, `rounds` times, and the median of the rounds' medians is printed."""
    model = model_of(config_cls, kw, impl, dtype)
    variants = [("transformers", model)]
    for runtime in ("libgomp", "libomp"):
        patched = copy.deepcopy(model)
        replaced = mhmoe.torch.patch(patched, threads=threads, openmp_runtime=runtime)
        variants.append((runtime, patched))
    for n in tokens:
        ids = torch.randint(0, 128, (1, n), generator=torch.Generator().manual_seed(n))
        times = {key: [] for key, _ in variants}
        with torch.no_grad():
            for _ in range(rounds):
                for key, m in variants:
                    times[key].append(median_ms(lambda: m(ids, use_cache=False).logits, iters))
        t = {key: statistics.median(v) for key, v in times.items()}
        print("| %s tiny 2-layer model (%s experts, %d blocks patched) | %d | %.2f | %.2f (%.2fx) | %.2f (%.2fx) |"
              % (name, impl, replaced, n, t["transformers"], t["libgomp"], t["transformers"] / t["libgomp"],
                 t["libomp"], t["transformers"] / t["libomp"]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", default="1,512")
    p.add_argument("--iters", type=int, default=9)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32",
                   help="the blocks' parameters and inputs (bf16: mhmoe keeps the weights in bf16 and "
                        "multiplies in bf16 with f32 accumulation where the CPU has AVX512-BF16, as "
                        "mhmoe.torch does for bf16 blocks; transformers runs its bf16 kernels)")
    a = p.parse_args()
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[a.dtype]
    torch.set_num_threads(a.threads)
    tokens = [int(t) for t in a.tokens.split(",")]
    bw = read_bandwidth_gbs()
    print("torch %s, transformers %s, %d threads, %s; read bandwidth %.1f GB/s (this run)"
          % (torch.__version__, transformers.__version__, a.threads, a.dtype, bw))
    print("| block | tokens | transformers eager / batched_mm / grouped_mm ms | mhmoe ms | best transformers / mhmoe"
          " | max abs diff | decode bound ms |")
    print("|---|---|---|---|---|---|---|")
    fastest = {}  # per shape: the experts implementation with the least total time over the token counts
    for name, (config_cls, family, kw) in SHAPES.items():
        total = {"eager": 0.0, "batched_mm": 0.0, "grouped_mm": 0.0}
        blocks = {impl: block_of(config_cls, family, kw, impl)[0].to(dtype)
                  for impl in ("eager", "batched_mm", "grouped_mm")}
        ref = blocks["eager"]
        t0 = time.perf_counter()
        patched = mhmoe.torch.MoEBlock.from_block(ref, threads=a.threads)
        setup_s = time.perf_counter() - t0
        D, k = kw["hidden_size"], kw["num_experts_per_tok"]
        F = kw["intermediate_size"]
        for n in tokens:
            x = torch.randn(1, n, D, generator=torch.Generator().manual_seed(n)).to(dtype)
            with torch.no_grad():
                times = {}
                for impl, b in blocks.items():
                    try:
                        times[impl] = median_ms(lambda: b(x), a.iters)
                    except Exception as e:  # an implementation this torch build lacks
                        times[impl] = float("nan")
                        print("  (%s unavailable: %s)" % (impl, str(e)[:80]))
                ours = median_ms(lambda: patched(x), a.iters)
                diff = (patched(x).float() - ref(x).float()).abs().max().item()
            best = min(v for v in times.values() if v == v)
            for impl, v in times.items():
                total[impl] += v  # nan (failed) stays nan
            elem = 2 if a.dtype == "bf16" else 4
            bound = k * 3 * D * F * elem / (bw * 1e9) * 1e3 if n == 1 else float("nan")
            print("| %s | %d | %s | %.2f | %.2fx | %.1e | %s |"
                  % (name, n, " / ".join("%.2f" % times[i] for i in ("eager", "batched_mm", "grouped_mm")),
                     ours, best / ours, diff, "%.2f" % bound if n == 1 else "-"))
        print("  (%s: write + compile + load of the mhmoe block %.1f s, once; cached afterwards)"
              % (name, setup_s))
        fastest[name] = min((v, impl) for impl, v in total.items() if v == v)[1]
    print("| model | tokens | transformers ms | patched ms (transformers / patched), one OpenMP team "
          "(libgomp) | patched ms, two teams (libomp beside torch's libgomp) |")
    print("|---|---|---|---|---|")
    for name, (config_cls, family, kw) in SHAPES.items():
        end_to_end(name, config_cls, kw, fastest[name], dtype, tokens, a.threads, a.iters)


if __name__ == "__main__":
    main()
