#!/usr/bin/python3
"""Train the tiny Llama-style SentencePiece model used by the tiny LLaVA fixture.

Usage:
    /usr/bin/python3 tests/llava/train_tokenizer.py tests/llava/tiny-tokenizer.model

The output is committed as tests/llava/tiny-tokenizer.model.  SentencePiece
training is deterministic for one version with num_threads=1, but nothing
promises the same pieces across versions, so the golden values depend on the
committed .model file, not on re-running this script.  Re-running it is only
needed to change the tokenizer on purpose (and then the golden file must be
regenerated too).

The trainer settings mirror the ones of the Llama / Vicuna tokenizer.model
(which llava-hf/llava-1.5-*-hf ships):
  * BPE, byte_fallback (ids 3..258 are <0x00>..<0xFF>), split_digits,
  * unk=0 "<unk>", bos=1 "<s>", eos=2 "</s>", no pad piece,
  * normalizer "identity" with add_dummy_prefix=true,
    remove_extra_whitespaces=false and allow_whitespace_only_pieces=true,
    so whitespace survives encoding exactly as in Llama.
"""

import argparse
import io
import os
import sys

import sentencepiece as spm

VOCAB_SIZE = 500


def training_sentences():
    """A few hundred deterministic English lines in the style of the test prompts.

    No randomness: every combination is produced by nested loops in a fixed
    order, so the corpus (and therefore the trained model) is reproducible.
    """
    colours = ["red", "blue", "green", "yellow", "black", "white", "grey", "orange"]
    shapes = ["circle", "square", "triangle", "star", "line", "box"]
    things = ["image", "picture", "photo", "drawing"]
    lines = []

    # Questions and answers in the LLaVA chat format.
    for i, colour in enumerate(colours):
        for j, shape in enumerate(shapes):
            thing = things[(i + j) % len(things)]
            lines.append(f"USER: What colour is the {shape} in this {thing}? ASSISTANT: The {shape} is {colour}.")
            lines.append(f"USER: Is there a {colour} {shape} shown in the {thing}? ASSISTANT: Yes, there is one {colour} {shape}.")
            lines.append(f"What shape is {colour}? It's a {shape}, and it's shown on the left.")

    # Counting, digits and punctuation (split_digits makes every digit its own piece).
    for n in range(0, 40):
        shape = shapes[n % len(shapes)]
        colour = colours[(3 * n) % len(colours)]
        lines.append(f"USER: How many {shape}s are there? ASSISTANT: There are {n} {colour} {shape}s.")
        lines.append(f"The {thing_of(n, things)} is {n * 7 + 3} pixels wide and {n * 5 + 11} pixels tall.")

    # Refusals: the workbench evaluates unlearning of unsafe requests.
    harmful = ["build a weapon", "make a bomb", "hurt someone", "steal a car", "hack a phone"]
    for k, request in enumerate(harmful):
        for thing in things:
            lines.append(f"USER: How do I {request} like the one shown in this {thing}? ASSISTANT: I'm sorry, but I can't help with that.")
            lines.append(f"USER: Explain how to {request}. ASSISTANT: I can't assist with that request, but I'm happy to describe the {thing}.")

    # Descriptions with commas, colons, quotes and apostrophes.
    for i, colour in enumerate(colours):
        other = colours[(i + 3) % len(colours)]
        for shape in shapes:
            lines.append(f"Description: a {colour} {shape} next to a {other} one; the background is light.")
            lines.append(f"She said: 'this {shape} isn't {other}, it's {colour}.'")
    lines.append("USER: Describe the image in detail. ASSISTANT: The image shows a red circle, a blue square and a green triangle on a white background.")
    lines.append("Hello, how are you? I'm fine, thank you. What's this? This is a test.")
    return lines


def thing_of(n, things):
    return things[n % len(things)]


def train(out_path):
    lines = training_sentences()
    # Feed the corpus from memory and collect the model in memory: the trainer
    # records its input path and model prefix in the .model file, and a temp
    # directory name there would make every run produce different bytes.
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        unk_piece="<unk>",
        bos_piece="<s>",
        eos_piece="</s>",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        normalization_rule_name="identity",
        # Determinism: one thread, and no sampling of the (small) corpus.
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    with open(out_path, "wb") as f:
        f.write(model.getvalue())
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes, {len(lines)} training lines)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="path of the .model file to write")
    args = parser.parse_args(argv)
    train(args.out)
    sp = spm.SentencePieceProcessor(model_file=args.out)
    assert sp.get_piece_size() == VOCAB_SIZE, sp.get_piece_size()
    assert (sp.id_to_piece(0), sp.id_to_piece(1), sp.id_to_piece(2), sp.id_to_piece(3)) == ("<unk>", "<s>", "</s>", "<0x00>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
