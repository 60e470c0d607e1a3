"""PyTorch (transformers) side of the encoder throughput comparison.

    python3 torch_throughput.py WORKLOAD.json [--threads N] [--reps N]
    python3 torch_throughput.py --random [--threads N] [--reps N] [--device cuda] [--dtype bf16]

WORKLOAD.json is written by tartan's `throughput` example (`--workload`): per model, the
token ids, attention masks and keep masks tartan encoded, and the model (a checkpoint
directory, loaded with transformers' BertModel plus the PyLate Dense projection, or a random
BERT of the given shape). The timed part matches tartan's `Encoder::encode_inputs`: batches
of 32 in the order tartan runs them (longest first), padded per batch, forward pass,
projection, L2 normalisation, and each text's kept rows copied out as a numpy array.
`--random` needs no workload: random MiniLM- and BERT-base-shaped models on random ids
(documents 32 x 180, queries 32 x 32 with 12 attended), as on the GPU machine's check; there,
without transformers, torch.nn's post-LN TransformerEncoder stands in for BertModel.
`--device cuda` runs on the GPU (the timed part ends with a synchronisation, as the outputs
are copied to the host), `--dtype bf16` in bf16 (outputs widened to f32 before the copy).
Prints one JSON line.
"""
import argparse
import json
import os
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("workload", nargs="?")
parser.add_argument("--random", action="store_true")
parser.add_argument("--threads", type=int, default=None)
parser.add_argument("--reps", type=int, default=1)
parser.add_argument("--device", default="cpu")
parser.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
args = parser.parse_args()
DEVICE = torch.device(args.device)
DTYPE = torch.bfloat16 if args.dtype == "bf16" else torch.float32
if args.threads:
    torch.set_num_threads(args.threads)
torch.manual_seed(0)
IMPL_DETAIL = set()

try:
    import transformers
    from transformers import BertConfig, BertModel
    IMPL = f"PyTorch {torch.__version__} + transformers {transformers.__version__}"
except ImportError:  # random models only: BERT's layer from torch.nn
    BertModel = None
    IMPL = f"PyTorch {torch.__version__} torch.nn.TransformerEncoder (no transformers)"


def hf_forward(model):
    model = model.to(DEVICE, DTYPE)
    IMPL_DETAIL.add(f"{model.config._attn_implementation} attention")
    return lambda ids, mask: model(input_ids=ids, attention_mask=mask,
                                   token_type_ids=torch.zeros_like(ids)).last_hidden_state


def torch_nn_forward(d):
    """BERT's post-LN layer with exact GELU from torch.nn, when transformers is missing."""
    hidden = d["hidden_size"]
    emb = torch.nn.Embedding(d["vocab_size"], hidden)
    pos = torch.nn.Embedding(512, hidden)
    ln = torch.nn.LayerNorm(hidden, eps=1e-12)
    layer = torch.nn.TransformerEncoderLayer(hidden, d["num_heads"], d["intermediate_size"],
                                             dropout=0.0, activation="gelu", batch_first=True)
    enc = torch.nn.TransformerEncoder(layer, d["num_layers"], enable_nested_tensor=False).eval()
    emb, pos, ln, enc = (m.to(DEVICE, DTYPE) for m in (emb, pos, ln, enc))
    return lambda ids, mask: enc(ln(emb(ids) + pos(torch.arange(ids.shape[1], device=DEVICE))[None]),
                                 src_key_padding_mask=mask == 0)


def placed(forward_and_weight):
    """The model moved to DEVICE and DTYPE; inputs moved along."""
    forward, weight = forward_and_weight
    if weight is not None:
        weight = weight.to(DEVICE, DTYPE)
    return forward, weight


def load(description):
    """(forward(ids, mask) -> hidden, projection weight [dim, hidden] or None)."""
    if description["kind"] == "checkpoint":
        if BertModel is None:
            raise SystemExit("a checkpoint workload needs transformers")
        path = description["path"]
        model = BertModel.from_pretrained(path, add_pooling_layer=False).eval()
        dense = os.path.join(path, "1_Dense", "model.safetensors")
        weight = None
        if os.path.exists(dense):
            from safetensors.torch import load_file
            weight = load_file(dense)["linear.weight"]
        return hf_forward(model), weight
    weight = torch.randn(description["dim"], description["hidden_size"]) * 0.02
    if BertModel is None:
        return torch_nn_forward(description), weight
    cfg = BertConfig(vocab_size=description["vocab_size"], hidden_size=description["hidden_size"],
                     num_hidden_layers=description["num_layers"],
                     num_attention_heads=description["num_heads"],
                     intermediate_size=description["intermediate_size"])
    return hf_forward(BertModel(cfg, add_pooling_layer=False).eval()), weight


def batches(inputs, batch_size):
    """Padded (ids, mask, keep) tensors per batch, longest inputs first, as tartan runs them."""
    order = sorted(range(len(inputs["ids"])), key=lambda i: -len(inputs["ids"][i]))
    out = []
    for s in range(0, len(order), batch_size):
        chunk = order[s:s + batch_size]
        width = max(len(inputs["ids"][i]) for i in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        keep = torch.zeros(len(chunk), width, dtype=torch.bool)
        for r, i in enumerate(chunk):
            n = len(inputs["ids"][i])
            ids[r, :n] = torch.tensor(inputs["ids"][i])
            mask[r, :n] = torch.tensor(inputs["attention_mask"][i])
            keep[r, :n] = torch.tensor(inputs["keep"][i])
        out.append((ids.to(DEVICE), mask.to(DEVICE), keep.to(DEVICE)))
    return out


def encode(forward, weight, prepared):
    result = []
    for ids, mask, keep in prepared:
        h = forward(ids, mask)
        if weight is not None:
            h = h @ weight.T
        h = torch.nn.functional.normalize(h.float(), dim=-1).cpu()
        keep = keep.cpu()
        result.extend(h[r][keep[r]].numpy() for r in range(h.shape[0]))
    return result


def median_secs(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def random_workload():
    models = []
    for name, layers, hidden, ffn in [("minilm-l6-h384", 6, 384, 1536),
                                      ("bert-base", 12, 768, 3072)]:
        docs = torch.randint(1000, 29000, (64, 180)).tolist()
        queries = torch.randint(1000, 29000, (128, 32)).tolist()
        qmask = [[1] * 12 + [0] * 20 for _ in queries]
        models.append({
            "model": f"random:{name}", "batch_size": 32,
            "description": {"kind": "random", "num_layers": layers, "hidden_size": hidden,
                            "num_heads": 12, "intermediate_size": ffn, "vocab_size": 30522,
                            "dim": 128},
            "documents": {"ids": docs, "attention_mask": [[1] * 180 for _ in docs],
                          "keep": [[True] * 180 for _ in docs]},
            "queries": {"ids": queries, "attention_mask": qmask,
                        "keep": [[True] * 32 for _ in queries]},
        })
    return {"models": models}


if args.random:
    workload = random_workload()
elif args.workload:
    with open(args.workload) as f:
        workload = json.load(f)
else:
    parser.error("give a workload file or --random")

reports = []
for w in workload["models"]:
    forward, weight = placed(load(w["description"]))
    docs = batches(w["documents"], w["batch_size"])
    queries = batches(w["queries"], w["batch_size"])
    tokens = sum(len(x) for x in w["documents"]["ids"])
    with torch.inference_mode():
        doc_s = median_secs(lambda: encode(forward, weight, docs), args.reps)
        query_s = median_secs(lambda: encode(forward, weight, queries), args.reps)
    reports.append({"model": w["model"], "documents": len(w["documents"]["ids"]),
                    "document_tokens": tokens, "queries": len(w["queries"]["ids"]),
                    "tokens_per_s": round(tokens / doc_s),
                    "queries_per_s": round(len(w["queries"]["ids"]) / query_s)})
print(json.dumps({"impl": IMPL + "".join(f", {x}" for x in sorted(IMPL_DETAIL))
                  + f", {args.device}, {args.dtype}",
                  "threads": torch.get_num_threads(), "reps": args.reps, "models": reports}))
