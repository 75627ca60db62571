"""check_import_api.py WORKDIR: mhmoe.compile on a transformers checkpoint directory (imported into the cache
through the compiler's C API, then compiled) and mhmoe.import_checkpoint, on a tiny random-init Qwen2-MoE built
here. Prints one line per check."""
import json
import os
import sys

import torch
import transformers

import mhmoe

work = sys.argv[1]
torch.manual_seed(0)
cfg = transformers.Qwen2MoeConfig(vocab_size=96, hidden_size=64, intermediate_size=64, num_hidden_layers=3,
                                  num_attention_heads=4, num_key_value_heads=2, num_experts=4,
                                  num_experts_per_tok=2, moe_intermediate_size=32,
                                  shared_expert_intermediate_size=40, norm_topk_prob=True)
model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
ckpt = os.path.join(work, "qwen2")
model.save_pretrained(ckpt)

x = torch.randn(2, 5, 64)
with torch.no_grad():
    want = x
    for i in (2, 1):
        layer = model.model.layers[i]
        want = want + layer.mlp(layer.post_attention_layernorm(want))
m = mhmoe.compile(ckpt, layers=[2, 1], threads=2)
got = m.run(x)
err = ((got - want).abs() / want.abs().clamp(min=1.0)).max().item()
print("compile(checkpoint, layers=[2, 1]): shape %s, within 1e-4 %s" % (tuple(got.shape), err <= 1e-4))
again = mhmoe.compile(ckpt, layers="2,1", threads=2)
print("second compile reuses the import: %s" % (len(os.listdir(os.path.join(os.environ["MHMOE_CACHE_DIR"],
                                                                              "python", "imported"))) == 1))

out = mhmoe.import_checkpoint(ckpt, os.path.join(work, "qwen2-mhmoe"))
with open(os.path.join(out, "config.json")) as f:
    c = json.load(f)
print("import_checkpoint: num_layers %d, shared_expert_gate %s, imported_from %s"
      % (c["num_layers"], c["shared_expert_gate"], c["imported_from"]))

for what, call in [("unknown model_type", lambda: mhmoe.compile(os.path.join(work, "llama"))),
                   ("dense layer", lambda: mhmoe.import_checkpoint(ckpt, os.path.join(work, "x"), layers=[3])),
                   ("layers on an mhmoe dir", lambda: mhmoe.compile(out, layers=[0]))]:
    if what == "unknown model_type":
        os.makedirs(os.path.join(work, "llama"), exist_ok=True)
        with open(os.path.join(work, "llama", "config.json"), "w") as f:
            json.dump({"model_type": "llama"}, f)
    try:
        call()
        print("%s: no error" % what)
    except mhmoe.InvalidInput as e:
        print("%s: InvalidInput: %s" % (what, str(e).replace(work, "WORK")))
print("no output for the failed import: %s" % (not os.path.exists(os.path.join(work, "x"))))

# A cache over $MHMOE_CACHE_MAX_BYTES keeps what was just made and evicts the least recently used rest.
os.environ["MHMOE_CACHE_MAX_BYTES"] = "1"
mhmoe.compile(ckpt, layers=[0], threads=2)
cache = os.path.join(os.environ["MHMOE_CACHE_DIR"], "python")
print("cache limited to 1 byte: %d imported, %d libraries"
      % (len(os.listdir(os.path.join(cache, "imported"))), len([n for n in os.listdir(cache) if n.endswith(".so")])))
