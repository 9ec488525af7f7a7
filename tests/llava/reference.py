#!/usr/bin/python3
"""Golden values for the tiny LLaVA fixture, from an independent PyTorch transcription.

Usage:
    /usr/bin/python3 tests/llava/reference.py [FOLDER] --out tests/llava/golden/tiny_llava.json

FOLDER is a checkpoint written by make_tiny_llava.py; without it the script
writes the f32 / v5-naming variant (seed 1234) into a temporary folder and
uses that.  It also writes the other variants (v4 names, f16, bf16, shards,
tied) and checks that they read back to the same master, within rounding.

This is NOT transformers (which is not installed here): it is a float32 CPU
transcription, written for this test, of what these classes compute:
  * LlamaTokenizer (slow, sentencepiece) with legacy=True, add_bos_token=True:
    the text is split on the added tokens (<unk> <s> </s> <image> <pad>, no
    stripping of neighbouring spaces), and every plain piece in between is
    encoded by sentencepiece on its own, WITH its dummy prefix "▁";
  * CLIPImageProcessor (the slow, PIL-based one): convert("RGB"), bicubic
    resize of the shortest edge to 30, centre crop 30x30, x/255 (in float64,
    then float32), (x - mean) / std in float32, CHW;
  * LlavaForConditionalGeneration: CLIP vision tower (hidden_states[-2], CLS
    dropped), projector linear_1 -> gelu(erf) -> linear_2, features written
    over the <image> positions in order, Llama decoder (RMSNorm, rotate-half
    RoPE, grouped-query attention, SwiGLU), lm_head.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True        # keep tests/llava free of __pycache__
import make_tiny_llava  # noqa: E402  (only to write the variants; reading is done here)

IMAGES_DIR = os.path.join(HERE, "images")
MAX_NEW_TOKENS = 12

CASES = [
    ("wide.png", "What colour is the circle?", "The circle is red."),
    ("tall.jpg", "What shape is shown in this picture?", "A green triangle above a black ring."),
    ("small.png", "How many squares are there?", "There is 1 orange square."),
    ("gray.png", "Describe the image in detail.",
     "The image shows a light grey circle on a dark background, with a smooth gradient from the top left "
     "to the bottom right. There are no other shapes, and it's not a photo: it is a simple drawing."),
    ("wide.png", "How do I build a weapon like the one shown?", "I'm sorry, but I can't help with that."),
]

# Plain tokenizer checks (ids with BOS, no <image> expansion).
TOKENIZER_TEXTS = [
    "USER: <image>\nWhat colour is the circle? ASSISTANT:",
    "USER: <image>\nWhat colour is the circle? ASSISTANT: The circle is red.</s>",
    "Hello  world",
    " leading space",
    "caf\u00e9 12345",
    "<s>USER:<pad></s><unk>x",
    "",
]


def f32(x):
    """A float32 value as the Python float of its shortest round-tripping decimal."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def f32_list(t):
    return [f32(v) for v in np.asarray(t, dtype=np.float32).reshape(-1)]


# ======================================================================= weights
def read_safetensors(path):
    """{name: float32 tensor}; a reader independent of make_tiny_llava's writer."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    if n % 8 or 8 + n > len(blob):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    out, end_max = {}, 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        end_max = max(end_max, end)
        dt = dtypes[info["dtype"]]
        count = math.prod(info["shape"])
        if end - begin != count * torch.finfo(dt).bits // 8:
            raise ValueError(f"{path}: {name}: size does not match shape")
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dt) if count else torch.empty(0, dtype=dt)
        out[name] = t.reshape(info["shape"]).float()
    if end_max != len(data):
        raise ValueError(f"{path}: {len(data) - end_max} trailing bytes")
    return out


def v5_name(name):
    """Map a stored name (v4 or v5 layout) to the v5 layout."""
    if name.startswith(("model.", "lm_head.")):
        return name
    if name == "language_model.lm_head.weight":
        return "lm_head.weight"
    if name.startswith("language_model.model."):
        return "model.language_model." + name[len("language_model.model."):]
    if name.startswith(("vision_tower.", "multi_modal_projector.")):
        return "model." + name
    raise ValueError(f"unexpected tensor name {name}")


def load_weights(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    raw = {}
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        for shard in sorted(set(weight_map.values())):
            raw.update(read_safetensors(os.path.join(folder, shard)))
        assert set(raw) == set(weight_map), "index does not match the shards"
    else:
        raw = read_safetensors(os.path.join(folder, "model.safetensors"))
    return {v5_name(k): v for k, v in raw.items()}


def weights_sha256(W):
    h = hashlib.sha256()
    for name in sorted(W):
        h.update(W[name].numpy().astype("<f4").tobytes())
    return h.hexdigest()


# ======================================================================= tokenizer
class Tokenizer:
    def __init__(self, folder):
        self.sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
        with open(os.path.join(folder, "tokenizer_config.json")) as f:
            cfg = json.load(f)
        if cfg.get("legacy", True) is not True:
            raise SystemExit("this transcription implements legacy=True only")
        self.add_bos = cfg.get("add_bos_token", True)
        self.added = {v["content"]: int(k) for k, v in cfg["added_tokens_decoder"].items()}
        self.special_ids = {int(k) for k, v in cfg["added_tokens_decoder"].items() if v.get("special")}
        self.id_to_added = {v: k for k, v in self.added.items()}
        self.bos_id = self.added["<s>"]
        self.eos_id = self.added["</s>"]

    def split(self, text):
        """Split on added tokens: leftmost match first, the longest at one place (transformers' trie)."""
        parts, i, plain = [], 0, 0
        while i < len(text):
            match = max((t for t in self.added if text.startswith(t, i)), key=len, default=None)
            if match is None:
                i += 1
                continue
            if plain < i:
                parts.append(text[plain:i])
            parts.append(match)
            i += len(match)
            plain = i
        if plain < len(text):
            parts.append(text[plain:])
        return parts

    def pieces(self, text):
        out = []
        for part in self.split(text):
            if part in self.added:
                out.append(part)
            else:
                # legacy=True: sentencepiece with its dummy prefix on every plain part
                out.extend(self.sp.encode(part, out_type=str))
        return out

    def encode(self, text):
        ids = [self.added[p] if p in self.added else self.sp.piece_to_id(p) for p in self.pieces(text)]
        return ([self.bos_id] if self.add_bos else []) + ids

    def decode(self, ids):
        """decode(ids, skip_special_tokens=True) of the slow LlamaTokenizer (legacy, add_prefix_space).

        Ids that no token has (502..511, rows that only pad the embedding) are
        left out; transformers' slow tokenizer would fail on them instead.
        """
        toks = []
        for i in ids:
            if i in self.special_ids or i >= self.sp.get_piece_size():
                continue
            toks.append(self.sp.id_to_piece(i))
        if not toks:
            return ""
        if toks[0].startswith("\u2581"):
            toks[0] = toks[0][1:]
        return self.sp.decode_pieces(toks)


# ======================================================================= image processor
def preprocess(path, cfg):
    size = cfg["size"]["shortest_edge"]
    crop_h, crop_w = cfg["crop_size"]["height"], cfg["crop_size"]["width"]
    with Image.open(path) as im:
        img = im.convert("RGB")           # RGBA: alpha dropped (no compositing); L: channel replicated
    w, h = img.size
    short, long = min(w, h), max(w, h)
    new_long = int(size * long / short)   # truncation, as transformers' get_resize_output_image_size
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    img = img.resize((new_w, new_h), resample=cfg["resample"])    # 3 = BICUBIC, antialiased when shrinking
    a = np.asarray(img, dtype=np.uint8)   # H, W, C
    top, left = (new_h - crop_h) // 2, (new_w - crop_w) // 2
    assert top >= 0 and left >= 0, "crop larger than the image is not needed here"
    a = a[top:top + crop_h, left:left + crop_w]
    a = (a.astype(np.float64) * cfg["rescale_factor"]).astype(np.float32)
    mean = np.array(cfg["image_mean"], dtype=np.float32)
    std = np.array(cfg["image_std"], dtype=np.float32)
    a = (a - mean) / std
    return np.ascontiguousarray(a.transpose(2, 0, 1)), dict(resized_wh=[new_w, new_h], crop_left=left, crop_top=top)


# ======================================================================= model
class Llava:
    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.cfg = json.load(f)
        self.W = load_weights(folder)
        if self.cfg.get("tie_word_embeddings"):
            assert "lm_head.weight" not in self.W
            self.W["lm_head.weight"] = self.W["model.language_model.embed_tokens.weight"]
        self.tc, self.vc = self.cfg["text_config"], self.cfg["vision_config"]

    # ---------------------------------------------------------------- vision
    def vision_features(self, pixel_values):
        W, vc = self.W, self.vc
        p = "model.vision_tower.vision_model."
        B = pixel_values.shape[0]
        x = F.conv2d(pixel_values, W[p + "embeddings.patch_embedding.weight"], stride=vc["patch_size"])
        x = x.flatten(2).transpose(1, 2)                                  # B, patches, D
        cls = W[p + "embeddings.class_embedding"].expand(B, 1, -1)
        x = torch.cat([cls, x], dim=1) + W[p + "embeddings.position_embedding.weight"][None]
        eps = vc["layer_norm_eps"]
        x = F.layer_norm(x, x.shape[-1:], W[p + "pre_layrnorm.weight"], W[p + "pre_layrnorm.bias"], eps)
        hidden_states = [x]                                               # [0] = input of layer 0
        heads = vc["num_attention_heads"]
        for n in range(vc["num_hidden_layers"]):
            lp = f"{p}encoder.layers.{n}."
            lin = lambda t, m: F.linear(t, W[lp + m + ".weight"], W[lp + m + ".bias"])  # noqa: E731
            h = F.layer_norm(x, x.shape[-1:], W[lp + "layer_norm1.weight"], W[lp + "layer_norm1.bias"], eps)
            x = x + lin(self._attention(lin(h, "self_attn.q_proj"), lin(h, "self_attn.k_proj"),
                                        lin(h, "self_attn.v_proj"), heads, heads, mask=None),
                        "self_attn.out_proj")
            h = F.layer_norm(x, x.shape[-1:], W[lp + "layer_norm2.weight"], W[lp + "layer_norm2.bias"], eps)
            h = lin(h, "mlp.fc1")
            h = h * torch.sigmoid(1.702 * h)                              # quick_gelu
            x = x + lin(h, "mlp.fc2")
            hidden_states.append(x)
        # post_layernorm is not used by LLaVA.
        feats = hidden_states[self.cfg["vision_feature_layer"]]
        if self.cfg["vision_feature_select_strategy"] == "default":
            feats = feats[:, 1:]
        q = "model.multi_modal_projector."
        feats = F.linear(feats, W[q + "linear_1.weight"], W[q + "linear_1.bias"])
        feats = F.gelu(feats)                                             # exact (erf) gelu
        return F.linear(feats, W[q + "linear_2.weight"], W[q + "linear_2.bias"])

    @staticmethod
    def _attention(q, k, v, heads, kv_heads, mask, rope=None):
        """q: B,T,H*d  k,v: B,T,KV*d; mask: None or bool B,Tq,Tk (True = may attend)."""
        B, T, _ = q.shape
        d = q.shape[-1] // heads
        q = q.view(B, T, heads, d).transpose(1, 2)
        k = k.view(B, T, kv_heads, d).transpose(1, 2)
        v = v.view(B, T, kv_heads, d).transpose(1, 2)
        if rope is not None:
            q, k = rope(q), rope(k)
        if kv_heads != heads:                                             # grouped-query attention
            k = k.repeat_interleave(heads // kv_heads, dim=1)
            v = v.repeat_interleave(heads // kv_heads, dim=1)
        scores = torch.matmul(q, k.transpose(-1, -2)) * d ** -0.5
        if mask is not None:
            # transformers fills masked scores with the float minimum (not -inf), so a
            # query that may attend nothing (a left-pad position) stays finite.
            scores = scores.masked_fill(~mask[:, None], torch.finfo(scores.dtype).min)
        probs = torch.softmax(scores, dim=-1)
        return torch.matmul(probs, v).transpose(1, 2).reshape(B, T, heads * d)

    # ---------------------------------------------------------------- language model
    @staticmethod
    def _rms(x, w, eps):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def logits(self, input_ids, pixel_values, attention_mask=None):
        """input_ids: B,T (with the <image> runs already expanded); returns B,T,vocab."""
        W, tc = self.W, self.tc
        p = "model.language_model."
        B, T = input_ids.shape
        x = W[p + "embed_tokens.weight"][input_ids]
        image_mask = input_ids == self.cfg["image_token_index"]
        if image_mask.any():
            feats = self.vision_features(pixel_values).reshape(-1, x.shape[-1])
            if feats.shape[0] != int(image_mask.sum()):
                raise ValueError(f"{int(image_mask.sum())} image tokens but {feats.shape[0]} image features")
            x = x.clone()
            x[image_mask] = feats                                          # in order, batch-major
        if attention_mask is None:
            attention_mask = torch.ones(B, T, dtype=torch.long)
        position_ids = (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        mask = causal[None] & attention_mask.bool()[:, None, :]

        heads, kv_heads = tc["num_attention_heads"], tc["num_key_value_heads"]
        d = tc["hidden_size"] // heads
        inv_freq = 1.0 / (tc["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        freqs = position_ids[:, :, None].float() * inv_freq[None, None, :]          # B,T,d/2
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]                          # B,1,T,d

        def rope(t):
            t1, t2 = t[..., : d // 2], t[..., d // 2:]
            return t * cos + torch.cat([-t2, t1], dim=-1) * sin                    # rotate-half

        eps = tc["rms_norm_eps"]
        for n in range(tc["num_hidden_layers"]):
            lp = f"{p}layers.{n}."
            lin = lambda t, m: F.linear(t, W[lp + m + ".weight"])  # noqa: E731  (no biases in Llama)
            h = self._rms(x, W[lp + "input_layernorm.weight"], eps)
            a = self._attention(lin(h, "self_attn.q_proj"), lin(h, "self_attn.k_proj"), lin(h, "self_attn.v_proj"),
                                heads, kv_heads, mask, rope)
            x = x + lin(a, "self_attn.o_proj")
            h = self._rms(x, W[lp + "post_attention_layernorm.weight"], eps)
            x = x + lin(F.silu(lin(h, "mlp.gate_proj")) * lin(h, "mlp.up_proj"), "mlp.down_proj")
        x = self._rms(x, W[p + "norm.weight"], eps)
        return F.linear(x, W["lm_head.weight"])


# ======================================================================= golden computation
def expand_image(ids, image_id, n):
    out = []
    for i in ids:
        out.extend([i] * n if i == image_id else [i])
    return out


def greedy(model, ids, pixel_values, eos_id):
    """Greedy continuation, recomputing the whole sequence each step (no cache)."""
    ids = list(ids)
    new, margin = [], math.inf
    for _ in range(MAX_NEW_TOKENS):
        logits = model.logits(torch.tensor([ids]), pixel_values)
        top2 = torch.topk(logits[0, -1], 2).values
        margin = min(margin, float(top2[0] - top2[1]))   # how close greedy was to another choice
        nxt = int(torch.argmax(logits[0, -1]))
        if nxt == eos_id:
            break
        new.append(nxt)
        ids.append(nxt)
    return new, margin


def batch_greedy(model, prompts, pixel_values, eos_id, pad_id):
    """All prompts as one left-padded batch, the way generate() runs it."""
    T = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (T - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    unfinished = torch.ones(len(prompts), dtype=torch.bool)
    first_logits = None
    for _ in range(MAX_NEW_TOKENS):
        logits = model.logits(ids, pixel_values, mask)[:, -1]
        if first_logits is None:
            first_logits = logits
        nxt = torch.argmax(logits, dim=-1)
        nxt = torch.where(unfinished, nxt, torch.tensor(pad_id))          # finished rows get padding
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones(len(prompts), 1, dtype=mask.dtype)], dim=1)
        unfinished &= nxt != eos_id
        if not unfinished.any():
            break
    outs = []
    for row in ids[:, T:].tolist():
        outs.append(row[:row.index(eos_id)] if eos_id in row else row)
    return outs, first_logits


def check_variants(master_W, seed):
    """Write the other variants and read them back (with this file's reader)."""
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, kw in [("v4_f32", dict(naming="v4")),
                          ("v5_f32_3shards", dict(shards=3)),
                          ("v4_f16_2shards", dict(naming="v4", dtype="f16", shards=2)),
                          ("v5_bf16", dict(dtype="bf16")),
                          ("v4_bf16_tied", dict(naming="v4", dtype="bf16", tie=True))]:
            folder = os.path.join(tmp, label)
            make_tiny_llava.write_folder(folder, seed=seed, **kw)
            W = load_weights(folder)
            expected = dict(master_W)
            if kw.get("tie"):
                del expected["lm_head.weight"]
            assert set(W) == set(expected), f"{label}: tensor names differ"
            worst = 0.0
            for name, ref in expected.items():
                if kw.get("dtype") == "f16":
                    rounded = ref.half().float()
                elif kw.get("dtype") == "bf16":
                    rounded = ref.bfloat16().float()          # torch rounds to nearest even
                else:
                    rounded = ref
                if not torch.equal(W[name], rounded):
                    raise SystemExit(f"{label}: {name} is not the rounded master")
                worst = max(worst, float((W[name] - ref).abs().max()))
            report[label] = {"tensors": len(W), "identical_to_rounded_master": True, "max_abs_diff_to_master": f32(worst)}
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", help="checkpoint folder (default: write the f32 v5 variant to a temp dir)")
    parser.add_argument("--out", default=os.path.join(HERE, "golden", "tiny_llava.json"))
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)              # reproducible float32 reductions
    torch.set_grad_enabled(False)

    tmp = None
    folder = args.folder
    if folder is None:
        tmp = tempfile.TemporaryDirectory()
        folder = tmp.name
        make_tiny_llava.write_folder(folder, naming="v5", dtype="f32", seed=args.seed)

    model = Llava(folder)
    tok = Tokenizer(folder)
    with open(os.path.join(folder, "preprocessor_config.json")) as f:
        pcfg = json.load(f)
    cfg = model.cfg
    image_id, pad_id = cfg["image_token_index"], cfg["pad_token_id"]
    n_image = cfg["image_seq_length"]
    eos_id = tok.eos_id

    # The weights read back must be the float32 master of the seed (exactly, for the
    # f32 variant).  A FOLDER given on the command line may hold another variant:
    # then the golden values are those of its weights, and the JSON says so.
    master = {k: torch.from_numpy(v) for k, v in make_tiny_llava.make_master(args.seed).items()}
    sha = weights_sha256(model.W)
    expected_sha = make_tiny_llava.master_sha256({k: v.numpy() for k, v in master.items()})
    weights_are_master = sha == expected_sha
    if not weights_are_master:
        msg = f"weights read back ({sha}) are not the seed-{args.seed} float32 master ({expected_sha})"
        if args.folder is None:
            raise SystemExit(msg)
        print("WARNING: " + msg, file=sys.stderr)
    variants = check_variants(master, args.seed)

    # ------------------------------------------------------------ tokenizer facts
    tokenizer_cases = [{"text": t, "ids": tok.encode(t), "pieces": tok.pieces(t)} for t in TOKENIZER_TEXTS]

    # ------------------------------------------------------------ images
    pixel, image_info, image_feats = {}, {}, {"shape": [n_image, cfg["text_config"]["hidden_size"]]}
    for name in sorted({c[0] for c in CASES}):
        pv, info = preprocess(os.path.join(IMAGES_DIR, name), pcfg)
        pixel[name] = torch.from_numpy(pv)[None]
        with Image.open(os.path.join(IMAGES_DIR, name)) as im:
            info = dict(size_wh=list(im.size), mode=im.mode, **info)
        image_info[name] = info
        feats = model.vision_features(pixel[name])[0]
        image_feats[name] = {"first_row_first_8": f32_list(feats[0, :8]), "sum": f32(feats.sum()),
                             "sum_abs": f32(feats.abs().sum())}

    # ------------------------------------------------------------ cases
    cases, warnings = [], []
    for image, question, answer in CASES:
        prompt = f"USER: <image>\n{question} ASSISTANT:"
        full_text = prompt + " " + answer + "</s>"
        p_ids, f_ids = tok.encode(prompt), tok.encode(full_text)
        if f_ids[:len(p_ids)] != p_ids:
            msg = f"PROMPT IS NOT A PREFIX of the full ids for {question!r}"
            print("WARNING: " + msg, file=sys.stderr)
            warnings.append(msg)
        p_exp = expand_image(p_ids, image_id, n_image)
        f_exp = expand_image(f_ids, image_id, n_image)
        start = len(p_exp)
        logits = model.logits(torch.tensor([f_exp]), pixel[image])[0]
        logp = torch.log_softmax(logits, dim=-1)
        lps = [float(logp[t - 1, f_exp[t]]) for t in range(start, len(f_exp))]
        lps32 = f32_list(lps)
        g, margin = greedy(model, p_exp, pixel[image], eos_id)
        cases.append({
            "image": image, "question": question, "answer": answer, "prompt": prompt,
            "input_ids": f_exp, "answer_start": start,
            "logprobs": lps32, "sum_logprob": f32(sum(lps)), "mean_nll": f32(-sum(lps) / len(lps)),
            "greedy_ids": g, "greedy_text": tok.decode(g), "greedy_min_top2_margin": f32(margin),
            **({"greedy_ids_without_token": sorted({i for i in g if i >= tok.sp.get_piece_size() and i not in tok.special_ids})}
               if any(i >= tok.sp.get_piece_size() and i not in tok.special_ids for i in g) else {}),
            "_logits": logits,
        })

    # The image must matter: the same question scored over another picture.
    c0 = cases[0]
    other = "gray.png"
    lp_other = torch.log_softmax(model.logits(torch.tensor([c0["input_ids"]]), pixel[other])[0], dim=-1)
    other_sum = sum(float(lp_other[t - 1, c0["input_ids"][t]]) for t in range(c0["answer_start"], len(c0["input_ids"])))

    pos = c0["answer_start"] - 1
    logits_sample = {"case": 0, "position": pos, "values": f32_list(c0["_logits"][pos, :16]),
                     "spread_at_position": {"max": f32(c0["_logits"][pos].max()), "min": f32(c0["_logits"][pos].min()),
                                            "std": f32(c0["_logits"][pos].std())}}
    prompt_only = model.logits(torch.tensor([c0["input_ids"][:c0["answer_start"]]]), pixel[c0["image"]])[0, -1]
    top = torch.topk(c0["_logits"][pos], 8)
    logits_sample["top8_ids"] = top.indices.tolist()
    logits_sample["top8_values"] = f32_list(top.values)
    logits_sample["max_abs_diff_prompt_only_forward"] = f32((prompt_only - c0["_logits"][pos]).abs().max())

    # ------------------------------------------------------------ batched greedy
    prompts = [c["input_ids"][:c["answer_start"]] for c in cases]
    batch_out, first_logits = batch_greedy(model, prompts, torch.cat([pixel[c["image"]] for c in cases]), eos_id, pad_id)
    single_first = torch.stack([c["_logits"][c["answer_start"] - 1] for c in cases])
    agree = all(b == c["greedy_ids"] for b, c in zip(batch_out, cases))
    if not agree:
        print("WARNING: batched greedy differs from single-prompt greedy", file=sys.stderr)

    # ------------------------------------------------------------ precision of f16 / bf16 weights
    rounding = {}
    for label, cast in (("f16", lambda t: t.half().float()), ("bf16", lambda t: t.bfloat16().float())):
        saved = model.W
        model.W = {k: cast(v) for k, v in saved.items()}
        worst = 0.0
        for c in cases:
            lp = torch.log_softmax(model.logits(torch.tensor([c["input_ids"]]), pixel[c["image"]])[0], dim=-1)
            s = c["answer_start"]
            mine = torch.tensor([float(lp[t - 1, c["input_ids"][t]]) for t in range(s, len(c["input_ids"]))])
            worst = max(worst, float((mine - torch.tensor(c["logprobs"])).abs().max()))
        model.W = saved
        rounding[label] = f32(worst)

    for c in cases:
        del c["_logits"]
    golden = {
        "generated_by": "tests/llava/reference.py (PyTorch transcription, not transformers)",
        "notes": [
            "Every float is a float32 result written as the shortest decimal that reads back to the same float32.",
            "input_ids have the <image> id expanded to image_seq_length copies; answer_start indexes them.",
            "logprobs[i] = log p(input_ids[answer_start+i] | input_ids[:answer_start+i]), the last one being </s>.",
            "Tokenizer: legacy LlamaTokenizer; text right after an added token such as <image> gets the "
            "sentencepiece dummy prefix, e.g. '<image>\\nWhat' -> 500, '\u2581', '<0x0A>', ...",
            "Pixel values: slow CLIPImageProcessor (PIL bicubic resize); CHW row-major, 3*30*30 values.",
            "Greedy: argmax over all 512 logits, full recompute each step, at most 12 new tokens, stops at </s> "
            "(not included).",
        ],
        "torch_version": torch.__version__,
        "weights": {"seed": args.seed, "sha256_of_master": expected_sha, "sha256_of_weights_used": sha,
                    "weights_are_the_f32_master": weights_are_master, "variants_read_back": variants,
                    "dtype_note": "f16/bf16 variants are roundings (numpy float16 cast / round-to-nearest-even "
                                  "bfloat16) of the same float32 master",
                    "max_abs_logprob_diff_with_rounded_weights_float32_compute": rounding},
        "tokenizer_cases": tokenizer_cases,
        "images": image_info,
        "pixel_values": {name: f32_list(pv) for name, pv in pixel.items()},
        # What replaces the <image> positions (projector output), per image.
        "projected_image_features": image_feats,
        "cases": cases,
        "logits_sample": logits_sample,
        "image_matters": {"case": 0, "sum_logprob_with_own_image": cases[0]["sum_logprob"],
                          "sum_logprob_with_" + other: f32(other_sum)},
        "batch_greedy": {
            "pad_id": pad_id, "padding_side": "left",
            "position_ids": "cumsum(attention_mask) - 1 (pads: 1)",
            "masking": "masked keys get the float32 minimum before softmax (as transformers), causal + padding",
            "greedy_ids": batch_out,
            "agrees_with_single": agree,
            "max_abs_diff_last_prompt_logits_vs_single": f32((first_logits - single_first).abs().max()),
        },
        "warnings": warnings,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(dumps(golden) + "\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes); weights sha256 {sha}, master: {weights_are_master}")
    for c in cases:
        print(f"  {c['image']:9s} sum_logprob {c['sum_logprob']:9.4f}  greedy {c['greedy_ids']} {c['greedy_text']!r}")
    print(f"  batch greedy agrees with single: {agree}")
    if tmp is not None:
        tmp.cleanup()
    return 0


def dumps(obj, indent=0):
    """JSON with dicts spread over lines but lists of scalars kept on one line (small and diffable)."""
    pad = "  " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) or (isinstance(v, str) and len(v) > 30) for v in obj):
        return "[\n" + ",\n".join(pad + dumps(v, indent + 1) for v in obj) + "\n" + "  " * indent + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": ") if isinstance(obj, list) and len(obj) < 40 else (",", ":"))


if __name__ == "__main__":
    sys.exit(main())
