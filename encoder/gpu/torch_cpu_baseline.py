"""PyTorch CPU baseline for the encoder throughput figures, on the machine that runs gpu_check.

Same shapes as gpu_check: BERT of MiniLM size (6 x 384) and BERT-base size (12 x 768), random
weights, projection to 128 and L2 normalisation; documents at batch 32 x 180 tokens (tokens/s)
and queries at batch 32 x 32 tokens with 12 attended (queries/s). Uses transformers' BertModel
when installed (the reference implementation), else torch.nn.TransformerEncoder (post-LN, GELU:
BERT's layer). Prints one JSON line.
"""
import json, sys, time
import torch

torch.manual_seed(0)
try:
    from transformers import BertConfig, BertModel
    IMPL = "transformers.BertModel"
except Exception:  # transformers not installed on this machine
    BertModel = None
    IMPL = "torch.nn.TransformerEncoder"


def build(layers, hidden, ffn):
    if BertModel is not None:
        cfg = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=12, intermediate_size=ffn)
        m = BertModel(cfg).eval()
        return lambda ids, att: m(input_ids=ids, attention_mask=att,
                                  token_type_ids=torch.zeros_like(ids)).last_hidden_state
    emb = torch.nn.Embedding(30522, hidden)
    pos = torch.nn.Embedding(512, hidden)
    ln = torch.nn.LayerNorm(hidden, eps=1e-12)
    layer = torch.nn.TransformerEncoderLayer(hidden, 12, ffn, dropout=0.0, activation="gelu",
                                             batch_first=True, norm_first=False)
    enc = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False).eval()

    def fwd(ids, att):
        x = ln(emb(ids) + pos(torch.arange(ids.shape[1]))[None])
        return enc(x, src_key_padding_mask=att == 0)
    return fwd


def time_it(fwd, w, batch, length, attended, reps):
    ids = torch.randint(1000, 29000, (batch, length))
    att = torch.zeros(batch, length, dtype=torch.long)
    att[:, :attended] = 1
    with torch.inference_mode():
        torch.nn.functional.normalize(fwd(ids, att) @ w.T, dim=-1)  # warm-up
        t = time.perf_counter()
        for _ in range(reps):
            torch.nn.functional.normalize(fwd(ids, att) @ w.T, dim=-1)
        return (time.perf_counter() - t) / reps


reps = int(sys.argv[1]) if len(sys.argv) > 1 else 4
out = {"impl": IMPL, "torch": torch.__version__, "threads": torch.get_num_threads(), "models": []}
for name, layers, hidden, ffn in [("minilm-l6-h384", 6, 384, 1536), ("bert-base", 12, 768, 3072)]:
    fwd, w = build(layers, hidden, ffn), torch.randn(128, hidden) * 0.02
    doc_s = time_it(fwd, w, 32, 180, 180, reps)
    q_s = time_it(fwd, w, 32, 32, 12, reps)
    out["models"].append({"model": name, "cpu_tokens_per_s": round(32 * 180 / doc_s),
                          "cpu_queries_per_s": round(32 / q_s)})
print(json.dumps(out))
