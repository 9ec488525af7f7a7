#!/usr/bin/python3
"""Write a tiny random LLaVA-1.5 checkpoint in the Hugging Face (llava-hf) layout.

Usage:
    /usr/bin/python3 tests/llava/make_tiny_llava.py OUT_DIR [--naming v5|v4]
        [--dtype f32|f16|bf16] [--shards N] [--seed 1234] [--tie]

Needs only the Python standard library and numpy (no torch, no safetensors
package), so a test can run it anywhere.

The folder looks like llava-hf/llava-1.5-7b-hf with tiny sizes:
  config.json, generation_config.json, model.safetensors (or
  model-0000K-of-0000N.safetensors + model.safetensors.index.json),
  tokenizer.model (a copy of tests/llava/tiny-tokenizer.model),
  tokenizer_config.json, special_tokens_map.json, added_tokens.json,
  preprocessor_config.json, processor_config.json.

Every variant holds the same model.  The weights come from one float32 master
drawn from numpy.random.RandomState(seed) (the legacy generator, whose streams
NumPy keeps fixed across versions), tensor by tensor in the sorted order of
the v5 names.  Naming, sharding and --tie only change how the master is
stored; --dtype f16 / bf16 store roundings of it (numpy float16 cast,
round-to-nearest-even to bfloat16).  --tie leaves lm_head out, so a loader
must use embed_tokens as the output matrix; the master still contains an
lm_head tensor (unused then) so that the other tensors do not change.

Naming:
  v5  transformers >= 4.52:  model.vision_tower.*, model.multi_modal_projector.*,
      model.language_model.{embed_tokens,layers.N.*,norm}.*, lm_head.weight
  v4  transformers <= 4.51 (what the hub files use):  vision_tower.*,
      multi_modal_projector.*, language_model.model.*, language_model.lm_head.weight
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER_FIXTURE = os.path.join(HERE, "tiny-tokenizer.model")

# ---------------------------------------------------------------- sizes
TEXT = dict(hidden=64, intermediate=128, layers=2, heads=4, kv_heads=2, vocab=512, max_positions=256)
VISION = dict(hidden=32, intermediate=64, layers=3, heads=4, image=30, patch=6, channels=3)
IMAGE_TOKEN_ID = 500
PAD_TOKEN_ID = 501
# --shape: "tiny" (the tests' fixtures, above); "mid" (benchmarks: LLaVA-1.5's 336 px / 576 image tokens with a
# narrow 8-layer language model, about 30 M parameters); "7b" (LLaVA-1.5-7B's exact shapes: --config-only for memory
# plans, or weights streamed piece by piece for the loading and speed benchmark, 13.2 GiB in bf16).
SHAPES = {
    "mid": (dict(hidden=512, intermediate=1376, layers=8, heads=8, kv_heads=8, vocab=512, max_positions=2048),
            dict(hidden=256, intermediate=1024, layers=6, heads=8, image=336, patch=14, channels=3)),
    "7b": (dict(hidden=4096, intermediate=11008, layers=32, heads=32, kv_heads=32, vocab=32064, max_positions=4096),
           dict(hidden=1024, intermediate=4096, layers=24, heads=16, image=336, patch=14, channels=3)),
}
TOKENIZER_VOCAB = 500          # pieces in tiny-tokenizer.model; 500, 501 are added tokens
NUM_PATCHES = (VISION["image"] // VISION["patch"]) ** 2      # 25
SEQ_LENGTH = NUM_PATCHES                                       # "default" drops CLS


def config_json(naming, dtype, tie):
    torch_dtype = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype]
    return {
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "image_token_index": IMAGE_TOKEN_ID,
        "pad_token_id": PAD_TOKEN_ID,
        "projector_hidden_act": "gelu",
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "tie_word_embeddings": bool(tie),
        "image_seq_length": SEQ_LENGTH,
        "torch_dtype": torch_dtype,
        "transformers_version": "5.0.0" if naming == "v5" else "4.40.0",
        "text_config": {
            "model_type": "llama",
            "hidden_size": TEXT["hidden"],
            "intermediate_size": TEXT["intermediate"],
            "num_hidden_layers": TEXT["layers"],
            "num_attention_heads": TEXT["heads"],
            "num_key_value_heads": TEXT["kv_heads"],
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "vocab_size": TEXT["vocab"],
            "max_position_embeddings": TEXT["max_positions"],
            "hidden_act": "silu",
            "bos_token_id": 1,
            "eos_token_id": 2,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": VISION["hidden"],
            "intermediate_size": VISION["intermediate"],
            "num_hidden_layers": VISION["layers"],
            "num_attention_heads": VISION["heads"],
            "image_size": VISION["image"],
            "patch_size": VISION["patch"],
            "num_channels": VISION["channels"],
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
            "projection_dim": 32,
        },
    }


# ---------------------------------------------------------------- tensor list
def v5_shapes():
    """{v5 name: shape} for every tensor LlavaForConditionalGeneration holds."""
    shapes = {}
    v, t = VISION, TEXT
    vh, vi = v["hidden"], v["intermediate"]
    vp = "model.vision_tower.vision_model."
    shapes[vp + "embeddings.patch_embedding.weight"] = (vh, v["channels"], v["patch"], v["patch"])
    shapes[vp + "embeddings.class_embedding"] = (vh,)
    shapes[vp + "embeddings.position_embedding.weight"] = (NUM_PATCHES + 1, vh)
    for norm in ("pre_layrnorm", "post_layernorm"):     # "layrnorm" is the real (misspelt) name
        shapes[vp + norm + ".weight"] = (vh,)
        shapes[vp + norm + ".bias"] = (vh,)
    for n in range(v["layers"]):
        lp = f"{vp}encoder.layers.{n}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[lp + f"self_attn.{proj}.weight"] = (vh, vh)
            shapes[lp + f"self_attn.{proj}.bias"] = (vh,)
        for norm in ("layer_norm1", "layer_norm2"):
            shapes[lp + norm + ".weight"] = (vh,)
            shapes[lp + norm + ".bias"] = (vh,)
        shapes[lp + "mlp.fc1.weight"] = (vi, vh)
        shapes[lp + "mlp.fc1.bias"] = (vi,)
        shapes[lp + "mlp.fc2.weight"] = (vh, vi)
        shapes[lp + "mlp.fc2.bias"] = (vh,)

    th, ti = t["hidden"], t["intermediate"]
    head_dim = th // t["heads"]
    kv = t["kv_heads"] * head_dim
    shapes["model.multi_modal_projector.linear_1.weight"] = (th, vh)
    shapes["model.multi_modal_projector.linear_1.bias"] = (th,)
    shapes["model.multi_modal_projector.linear_2.weight"] = (th, th)
    shapes["model.multi_modal_projector.linear_2.bias"] = (th,)

    tp = "model.language_model."
    shapes[tp + "embed_tokens.weight"] = (t["vocab"], th)
    for n in range(t["layers"]):
        lp = f"{tp}layers.{n}."
        shapes[lp + "self_attn.q_proj.weight"] = (th, th)
        shapes[lp + "self_attn.k_proj.weight"] = (kv, th)
        shapes[lp + "self_attn.v_proj.weight"] = (kv, th)
        shapes[lp + "self_attn.o_proj.weight"] = (th, th)
        shapes[lp + "mlp.gate_proj.weight"] = (ti, th)
        shapes[lp + "mlp.up_proj.weight"] = (ti, th)
        shapes[lp + "mlp.down_proj.weight"] = (th, ti)
        shapes[lp + "input_layernorm.weight"] = (th,)
        shapes[lp + "post_attention_layernorm.weight"] = (th,)
    shapes[tp + "norm.weight"] = (th,)
    shapes["lm_head.weight"] = (t["vocab"], th)
    return shapes


def v4_name(v5):
    """The transformers <= 4.51 name of a v5 tensor name."""
    if v5 == "lm_head.weight":
        return "language_model.lm_head.weight"
    if v5.startswith("model.language_model."):
        return "language_model.model." + v5[len("model.language_model."):]
    if v5.startswith("model."):
        return v5[len("model."):]
    raise ValueError(v5)


# ---------------------------------------------------------------- master weights
# Gains g of normal(0, g / sqrt(fan_in)) for the matrices.  Chosen (by looking at
# the reference outputs) so that the model is not degenerate: the attention
# patterns are far from uniform, the image features are of the same size as
# the token embeddings (so the picture changes the answer scores), logits over
# the vocabulary spread over several units, and greedy generation does not
# repeat one token.
GAIN_VISION = 1.0
GAIN_PROJECTOR = 1.0
GAIN_TEXT = 2.0
GAIN_LM_HEAD = 2.0
# Rows of lm_head scaled down, as training pushes them down in a real model, so
# that greedy decoding mostly yields ordinary pieces that decode to readable
# text: <unk> and <s> (ids 0, 1), the byte-fallback pieces <0x00>..<0xFF>
# (ids 3..258 of tiny-tokenizer.model) and the ids no text piece has (<image>
# 500, <pad> 501, 502..511 padding the embedding).  </s> (2) keeps full scale.
LM_HEAD_ROW_SCALES = ((0, 2, 0.1), (3, 259, 0.3), (IMAGE_TOKEN_ID, TEXT["vocab"], 0.1))
# --byte-pieces: the byte-fallback rows scaled *up* instead, so that greedy decoding emits byte pieces — runs of
# bytes that are partial or invalid UTF-8 (and control characters), as a collapsed unlearned model does.
BYTE_PIECE_ROW_SCALES = ((0, 2, 0.1), (3, 259, 1.2), (IMAGE_TOKEN_ID, TEXT["vocab"], 0.1))
ROW_SCALES = LM_HEAD_ROW_SCALES


def scale_of(name, shape):
    """(mean, std) of the normal distribution a tensor is drawn from."""
    if name.endswith(".bias"):
        return 0.0, 0.02
    if "norm" in name and name.endswith(".weight"):           # LayerNorm / RMSNorm gains
        return 1.0, 0.1
    if name.endswith("class_embedding") or name.endswith("position_embedding.weight"):
        return 0.0, 0.2
    if name.endswith("embed_tokens.weight"):
        return 0.0, 1.0
    fan_in = int(np.prod(shape[1:]))
    if name == "lm_head.weight":
        gain = GAIN_LM_HEAD
    elif "vision_tower" in name:
        gain = GAIN_VISION
    elif "multi_modal_projector" in name:
        gain = GAIN_PROJECTOR
    else:
        gain = GAIN_TEXT
    return 0.0, gain / math.sqrt(fan_in)


def make_master(seed):
    """{v5 name: float32 array}; drawn in sorted v5-name order from RandomState(seed)."""
    rs = np.random.RandomState(seed)
    shapes = v5_shapes()
    master = {}
    for name in sorted(shapes):
        shape = shapes[name]
        mean, std = scale_of(name, shape)
        values = mean + std * rs.standard_normal(size=shape)       # float64
        if name == "lm_head.weight":
            for begin, end, factor in ROW_SCALES:
                values[begin:end] *= factor
        master[name] = values.astype(np.float32)
    return master


def master_sha256(master):
    """sha256 of the float32 little-endian bytes of every tensor, in sorted v5-name order."""
    h = hashlib.sha256()
    for name in sorted(master):
        h.update(np.ascontiguousarray(master[name], dtype="<f4").tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- dtypes
def to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest, ties to even."""
    bits = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    if not np.all(np.isfinite(a)):
        raise ValueError("non-finite weights")
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype("<u2")


def bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def encode(a, dtype):
    """(safetensors dtype string, raw little-endian bytes) of a float32 array."""
    if dtype == "f32":
        return "F32", np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "f16":
        return "F16", np.ascontiguousarray(a.astype("<f2")).tobytes()
    if dtype == "bf16":
        return "BF16", to_bf16_bits(a).tobytes()
    raise ValueError(dtype)


# ---------------------------------------------------------------- safetensors
def write_safetensors(path, tensors):
    """tensors: list of (name, dtype_str, shape, raw bytes), written in this order."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)        # the data then starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)
    return offset


def read_safetensors(path):
    """{name: float32 array} of a file written by write_safetensors (F32/F16/BF16)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            a = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            raise ValueError(f"{path}: {name}: dtype {info['dtype']}")
        out[name] = a.reshape(info["shape"])
    return out


def read_checkpoint(folder):
    """{stored name: float32 array} over model.safetensors or the sharded files."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        out = {}
        for shard in sorted(set(weight_map.values())):
            part = read_safetensors(os.path.join(folder, shard))
            for name, a in part.items():
                if weight_map.get(name) != shard:
                    raise ValueError(f"{shard}: {name} is not mapped to this file in the index")
                out[name] = a
        if set(out) != set(weight_map):
            raise ValueError("index and shards disagree")
        return out
    return read_safetensors(os.path.join(folder, "model.safetensors"))


def split_evenly(sizes, n):
    """Split a list of byte sizes into n contiguous, non-empty groups of similar total."""
    if not 1 <= n <= len(sizes):
        raise ValueError(f"cannot make {n} shards of {len(sizes)} tensors")
    total = sum(sizes)
    groups, current, done = [], [], 0
    for i, size in enumerate(sizes):
        left_tensors = len(sizes) - i
        left_groups = n - len(groups)
        # Close the current group before this tensor when that leaves the
        # group's end nearer its share of the bytes, or when every remaining
        # tensor is needed to give each remaining group one.
        target = total * (len(groups) + 1) / n
        if current and left_groups > 1 and (abs(done - target) <= abs(done + size - target)
                                            or left_tensors < left_groups):
            groups.append(current)
            current = []
        current.append(i)
        done += size
    groups.append(current)
    assert len(groups) == n and all(groups)
    return groups


# ---------------------------------------------------------------- tokenizer / processor files
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def added_token(content):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}


def tokenizer_files():
    special = {k: {key: v for key, v in added_token(c).items() if key != "special"}
               for k, c in (("bos_token", "<s>"), ("eos_token", "</s>"), ("pad_token", "<pad>"), ("unk_token", "<unk>"))}
    # No "legacy" key: transformers' LlamaTokenizer then uses legacy=True, where every
    # text segment between added tokens gets SentencePiece's dummy-prefix "▁".
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": {
            "0": added_token("<unk>"),
            "1": added_token("<s>"),
            "2": added_token("</s>"),
            str(IMAGE_TOKEN_ID): added_token("<image>"),
            str(PAD_TOKEN_ID): added_token("<pad>"),
        },
        "bos_token": "<s>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "model_max_length": 256,
        "pad_token": "<pad>",
        "padding_side": "left",
        "processor_class": "LlavaProcessor",
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    return {
        "added_tokens.json": {"<image>": IMAGE_TOKEN_ID, "<pad>": PAD_TOKEN_ID},
        "special_tokens_map.json": special,
        "tokenizer_config.json": config,
        "preprocessor_config.json": {
            "crop_size": {"height": VISION["image"], "width": VISION["image"]},
            "do_center_crop": True,
            "do_convert_rgb": True,
            "do_normalize": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711],
            "image_processor_type": "CLIPImageProcessor",
            "processor_class": "LlavaProcessor",
            "resample": 3,
            "rescale_factor": 0.00392156862745098,
            "size": {"shortest_edge": VISION["image"]},
        },
        # LlavaProcessor (transformers >= 4.47) reads these to expand "<image>" in the
        # text: (30/6)^2 patches + 1 CLS - 1 dropped by "default" = 25 copies.
        "processor_config.json": {
            "image_token": "<image>",
            "num_additional_image_tokens": 1,
            "patch_size": VISION["patch"],
            "processor_class": "LlavaProcessor",
            "vision_feature_select_strategy": "default",
        },
        "generation_config.json": {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": PAD_TOKEN_ID},
        # The processor's chat template, as llava-hf's folders carry it (LlavaProcessor.apply_chat_template).
        "chat_template.json": {"chat_template": CHAT_TEMPLATE},
    }


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# ---------------------------------------------------------------- streaming (7B-sized folders)
def write_streaming(out_dir, naming, dtype, shards, seed):
    """A folder of the current shapes whose tensors are written piece by piece, never whole in memory: each is
    mean + std * (a window of one pool of 16 M standard normal draws, at an offset of its own), so a 7B folder
    (13.2 GiB in bf16) takes a few minutes and little memory.  For benchmarks of loading and speed, not for
    golden values (the values repeat)."""
    os.makedirs(out_dir, exist_ok=True)
    rs = np.random.RandomState(seed)
    pool = rs.standard_normal(size=1 << 24).astype(np.float32)
    rename = (lambda n: n) if naming == "v5" else v4_name
    shapes = v5_shapes()
    width = {"f32": 4, "f16": 2, "bf16": 2}[dtype]
    dt = {"f32": "F32", "f16": "F16", "bf16": "BF16"}[dtype]
    tensors = sorted(((rename(n), n, shapes[n]) for n in shapes), key=lambda t: t[0])
    sizes = [int(np.prod(shape)) * width for _, _, shape in tensors]
    for name in os.listdir(out_dir):
        if name.startswith("model") and (name.endswith(".safetensors") or name.endswith(".index.json")):
            os.remove(os.path.join(out_dir, name))
    groups = [list(range(len(tensors)))] if shards == 1 else split_evenly(sizes, shards)
    weight_map, total = {}, 0
    for k, group in enumerate(groups):
        fname = "model.safetensors" if shards == 1 else f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for i in group:
            stored, _, shape = tensors[i]
            header[stored] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + sizes[i]]}
            offset += sizes[i]
            weight_map[stored] = fname
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        text += b" " * (-len(text) % 8)
        with open(os.path.join(out_dir, fname), "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for i in group:
                _, v5, shape = tensors[i]
                mean, std = scale_of(v5, shape)
                n, at = int(np.prod(shape)), int(rs.randint(0, len(pool)))
                while n > 0:
                    take = min(n, len(pool) - at, 1 << 22)
                    piece = np.float32(mean) + np.float32(std) * pool[at:at + take]
                    f.write(encode(piece, dtype)[1])
                    n -= take
                    at = (at + take) % len(pool)
        total += offset
        print(f"  {fname}: {offset / 2**30:.2f} GiB", file=sys.stderr, flush=True)
    if shards > 1:
        write_json(os.path.join(out_dir, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    write_json(os.path.join(out_dir, "config.json"), config_json(naming, dtype, False))
    for fname, obj in tokenizer_files().items():
        write_json(os.path.join(out_dir, fname), obj)
    shutil.copyfile(TOKENIZER_FIXTURE, os.path.join(out_dir, "tokenizer.model"))
    return total


# ---------------------------------------------------------------- main
def write_folder(out_dir, naming="v5", dtype="f32", shards=1, seed=1234, tie=False):
    os.makedirs(out_dir, exist_ok=True)
    master = make_master(seed)
    rename = (lambda n: n) if naming == "v5" else v4_name

    tensors = []
    for v5 in sorted(master):
        if tie and v5 == "lm_head.weight":
            continue
        dt, raw = encode(master[v5], dtype)
        tensors.append((rename(v5), dt, master[v5].shape, raw))
    tensors.sort(key=lambda t: t[0])          # file order: sorted by stored name

    for name in os.listdir(out_dir):          # stale weights of an earlier run would confuse loaders
        if name.startswith("model") and (name.endswith(".safetensors") or name.endswith(".index.json")):
            os.remove(os.path.join(out_dir, name))
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    else:
        weight_map, total = {}, 0
        for k, group in enumerate(split_evenly([len(t[3]) for t in tensors], shards)):
            fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
            part = [tensors[i] for i in group]
            total += write_safetensors(os.path.join(out_dir, fname), part)
            for t in part:
                weight_map[t[0]] = fname
        write_json(os.path.join(out_dir, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})

    write_json(os.path.join(out_dir, "config.json"), config_json(naming, dtype, tie))
    for fname, obj in tokenizer_files().items():
        write_json(os.path.join(out_dir, fname), obj)
    shutil.copyfile(TOKENIZER_FIXTURE, os.path.join(out_dir, "tokenizer.model"))
    return master


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--naming", choices=["v5", "v4"], default="v5")
    parser.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--tie", action="store_true", help="tie_word_embeddings: leave lm_head out")
    parser.add_argument("--shape", choices=["tiny", "mid", "7b"], default="tiny")
    parser.add_argument("--config-only", action="store_true", help="config, tokenizer and processor files, no weights")
    parser.add_argument("--byte-pieces", action="store_true",
                        help="lm_head favours the byte-fallback pieces (answers of partial and invalid UTF-8)")
    args = parser.parse_args(argv)
    global NUM_PATCHES, SEQ_LENGTH, IMAGE_TOKEN_ID, PAD_TOKEN_ID, ROW_SCALES
    if args.byte_pieces:
        ROW_SCALES = BYTE_PIECE_ROW_SCALES
    if args.shape != "tiny":
        TEXT.update(SHAPES[args.shape][0])
        VISION.update(SHAPES[args.shape][1])
        NUM_PATCHES = (VISION["image"] // VISION["patch"]) ** 2
        SEQ_LENGTH = NUM_PATCHES
    if args.shape == "7b":
        IMAGE_TOKEN_ID, PAD_TOKEN_ID = 32000, 32001
    if args.config_only:
        os.makedirs(args.out_dir, exist_ok=True)
        write_json(os.path.join(args.out_dir, "config.json"), config_json(args.naming, args.dtype, args.tie))
        for fname, obj in tokenizer_files().items():
            write_json(os.path.join(args.out_dir, fname), obj)
        shutil.copyfile(TOKENIZER_FIXTURE, os.path.join(args.out_dir, "tokenizer.model"))
        print(f"wrote {args.out_dir}: {args.shape} configuration only")
        return 0
    if args.shape == "7b":      # 13.2 GiB in bf16: written piece by piece
        if args.tie:
            parser.error("--shape 7b has an untied lm_head")
        total = write_streaming(args.out_dir, args.naming, args.dtype, args.shards, args.seed)
        print(f"wrote {args.out_dir}: 7b, naming {args.naming}, {args.dtype}, {args.shards} shard(s), "
              f"{total / 2**30:.2f} GiB of weights (streamed: repeating random values)")
        return 0
    master = write_folder(args.out_dir, args.naming, args.dtype, args.shards, args.seed, args.tie)
    print(f"wrote {args.out_dir}: naming {args.naming}, {args.dtype}, {args.shards} shard(s), seed {args.seed}"
          f"{', tied' if args.tie else ''}; master sha256 {master_sha256(master)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
