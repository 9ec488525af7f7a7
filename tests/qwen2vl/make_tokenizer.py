"""Write a tiny Qwen2-style tokenizer and the ids transformers gives for awkward texts (the reference environment):

    tests/reference/run.sh ../qwen2vl/make_tokenizer.py tests/qwen2vl

Writes tests/qwen2vl/tokenizer/ (what transformers' Qwen2Tokenizer.save_pretrained writes: tokenizer.json,
tokenizer_config.json) and tests/qwen2vl/golden_tokenizer.json ({"cases": [{"text", "ids", "decoded",
"decoded_with_special"}]}). The vocabulary is a byte-level BPE of 600 pieces trained here, by the tokenizers library,
on a corpus built into this script; the pipeline (NFC, Qwen2's split pattern, GPT-2's byte map, ByteLevel decoder) is
the one transformers' Qwen2Tokenizer builds around any vocabulary. The files are committed: re-run only to change
them on purpose.
"""

import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer

PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"]


def corpus():
    colours = ["red", "blue", "green", "yellow", "black", "white"]
    things = ["circle", "square", "knife", "bottle", "cat", "house", "car"]
    lines = []
    for c in colours:
        for t in things:
            lines.append(f"The {t} is {c}. Isn't it? I'm sure they're {c}!")
            lines.append(f"What colour is the {t}? It's {c}; we've seen 12 of them, 345 in all.")
            lines.append(f"    def {t}_{c}(x):\n\treturn x * 2  # {c}\n")
    lines += ["Größe, café, naïve, Ærøskøbing — déjà vu.", "日本語のテキストと中文文本。", "Здравствуйте, мир!",
              "emoji 😀🚀 and symbols ©®™ ≤≥", "I'm sorry, but I cannot help with that request."]
    return lines * 3


def main():
    out = sys.argv[1]
    raw = Tokenizer(models.BPE(unk_token=None, byte_fallback=False, fuse_unk=False))
    raw.normalizer = normalizers.NFC()
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(PATTERN), behavior="isolated", invert=False),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=2, show_progress=False, special_tokens=SPECIAL[:1],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(corpus(), trainer=trainer)
    model = json.loads(raw.to_str())["model"]
    tok = Qwen2Tokenizer(vocab=model["vocab"], merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" "))
                                                         for m in model["merges"]],
                         additional_special_tokens=SPECIAL[1:])
    folder = os.path.join(out, "tokenizer")
    os.makedirs(folder, exist_ok=True)
    tok.save_pretrained(folder)
    for extra in ("special_tokens_map.json", "chat_template.jinja", "added_tokens.json", "vocab.json", "merges.txt"):
        path = os.path.join(folder, extra)
        if os.path.exists(path) and extra not in ("special_tokens_map.json",):
            os.remove(path)
    texts = [
        "The circle is red.",
        "Isn't it? I'M SURE THEY'RE RED! You'll see, we'd've.",
        "12345 and 3.14159, 1,000,000",
        "Größe café naïve",
        "cafe\u0301 and A\u030a (decomposed: NFC composes them)",
        "日本語のテキストと中文文本。",
        "emoji 😀🚀 and symbols ©®™",
        "   leading spaces,  two  spaces,   and trailing   ",
        "tabs\tand\nnewlines\r\n\n\nand a vertical\x0btab, a form\x0cfeed, NEL\x85 here",
        "no\u00a0break, ideographic\u3000space, em\u2003space, line\u2028separator",
        "    def f(x):\n\treturn x * 2  # twice\n",
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is this?<|im_end|>\n<|im_start|>assistant\n",
        "text<|im_end|>glued<|endoftext|>",
        "'s 's 'S 'sx ''' '",
        "!!! ??? ... --- ___ @@@ ###\n\n",
        "",
        " ",
        "\n",
        "a" * 50 + " " + "ab" * 30,
    ]
    cases = []
    for t in texts:
        ids = tok(t)["input_ids"]
        cases.append({"text": t, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True),
                      "decoded_with_special": tok.decode(ids, skip_special_tokens=False)})
    # Byte runs that are not UTF-8 on their own: the first byte of "😀" alone decodes to U+FFFD.
    first = tok.convert_tokens_to_ids(["ð"])
    cases.append({"text": None, "ids": first, "decoded": tok.decode(first), "decoded_with_special": tok.decode(first)})
    with open(os.path.join(out, "golden_tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump({"made_by": "tests/qwen2vl/make_tokenizer.py", "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
