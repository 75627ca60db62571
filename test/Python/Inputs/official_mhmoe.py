"""The official MH-MoE layer's module and parameter names (github.com/yushuiwx/MH-MoE, torchscale's xmoe
MOELayer with multi_heads/out_proj; Top1Gate/Top2Gate with the X-MoE gate; FeedForwardNetwork experts), written
here for inference on one process: dropless, and Top2Gate's second expert taken without Gumbel noise
(second_expert_policy='all'). Written from the paper and the official code's forward, for tests only."""
import torch
import torch.nn.functional as F


class Top1Gate(torch.nn.Module):
    def __init__(self, model_dim, num_experts, use_xmoe=True):
        super().__init__()
        self.use_xmoe = use_xmoe
        if use_xmoe:
            self.wg_reduction = torch.nn.Linear(model_dim, 16, bias=False)
            self.wg = torch.nn.Parameter(torch.nn.init.orthogonal_(torch.empty(num_experts, 16), gain=0.32))
        else:
            self.wg = torch.nn.Linear(model_dim, num_experts, bias=False)

    def logits(self, x):
        if not self.use_xmoe:
            return self.wg(x)
        with torch.no_grad():  # as the official gate: rescale wg rows to norm 1.5 (the cosine ignores it)
            self.wg.mul_(1.5 / self.wg.norm(p=2.0, dim=1, keepdim=True))
        return self.wg_reduction(x).float() @ F.normalize(self.wg.float(), p=2.0, dim=1, eps=1e-4).t()

    def choose(self, x):
        """-> (indices [S, k], weights [S, k])"""
        gates = F.softmax(self.logits(x), dim=1)
        w, i = gates.max(dim=1, keepdim=True)
        return i, w


class Top2Gate(Top1Gate):
    second_expert_policy = "all"

    def choose(self, x):
        logits = self.logits(x)
        gates = F.softmax(logits, dim=1)
        i1 = logits.argmax(dim=1, keepdim=True)
        i2 = logits.scatter(1, i1, float("-inf")).argmax(dim=1, keepdim=True)
        g1, g2 = gates.gather(1, i1), gates.gather(1, i2)
        denom = torch.clamp(g1 + g2, min=torch.finfo(g1.dtype).eps)
        return torch.cat([i1, i2], 1), torch.cat([g1 / denom, g2 / denom], 1)


class FeedForwardNetwork(torch.nn.Module):
    def __init__(self, embed_dim, ffn_dim, activation_fn=F.gelu):
        super().__init__()
        self.activation_fn = activation_fn
        self.fc1 = torch.nn.Linear(embed_dim, ffn_dim)
        self.fc2 = torch.nn.Linear(ffn_dim, embed_dim)
        self.ffn_layernorm = None

    def forward(self, x):
        return self.fc2(self.activation_fn(self.fc1(x).float()).type_as(x))


class MOELayer(torch.nn.Module):
    def __init__(self, gate, experts, embed_dim, heads):
        super().__init__()
        self.gate = gate
        self.experts = torch.nn.ModuleList(experts)
        self.multi_heads = torch.nn.Linear(embed_dim, embed_dim, bias=True)
        self.out_proj = torch.nn.Linear(embed_dim, embed_dim, bias=True)
        self.mhmoe_heads_number = heads

    def forward(self, *input, input_padding_mask=None, **kwargs):
        x = input[0]
        B, T, D = x.shape
        h = self.mhmoe_heads_number
        s = self.multi_heads(x.reshape(-1, D)).reshape(B * T * h, D // h)
        idx, w = self.gate.choose(s)
        if input_padding_mask is not None:  # padding sub-tokens go to no expert
            w = w * (~input_padding_mask.reshape(-1, 1).repeat(1, h).reshape(-1, 1))
        out = torch.zeros_like(s)
        for e, expert in enumerate(self.experts):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if len(rows):
                out.index_add_(0, rows, w[rows, slot, None] * expert(s[rows]))
        y = self.out_proj(out.reshape(B * T, D)).reshape(B, T, D)
        return y, torch.zeros(())
