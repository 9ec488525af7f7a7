#!/usr/bin/env python3
"""The training examples and prompts tests/gpu/reference_bench.py feeds transformers, as token ids the engine's
LLaVA chat format writes (`safeeraser score --json`): PO's forget questions answered with a refusal of prompt.json,
retain questions (UnharmPair_text*) with their answers, Prompt Decouple questions (the SD image) with sd_response.
Standard library only (run by tests/gpu/prepare.sh).

    make_examples.py SAFEERASER LLAVA_FOLDER BENCH PACK OUT.json [--per-set N]
"""
import argparse
import json
import os
import subprocess


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("model")
    ap.add_argument("bench")
    ap.add_argument("pack")
    ap.add_argument("out")
    ap.add_argument("--per-set", type=int, default=4)
    a = ap.parse_args()
    with open(os.path.join(a.bench, "all_train.json")) as f:
        records = json.load(f)
    with open(os.path.join(a.bench, "prompt.json")) as f:
        refusals = json.load(f)["idk"]
    sets = {"refusal": [], "retain": [], "pd": []}
    for i, r in enumerate(records):
        pair = r["unsafe_pairs"][0]
        sets["refusal"].append((r["image_path"], pair["question"], refusals[i % len(refusals)]))
        sets["pd"].append((r["SDImage_path"], pair["question"], pair["sd_response"]))
        u = r["UnharmPair_text1"]
        sets["retain"].append((r["image_path"], u["Question"], u["Prediction"]))

    def score(image, question, answer):
        p = subprocess.run([a.cli, "score", "--model", a.model, "--images", a.pack, "--image",
                            os.path.join(a.bench, image), "--question", question, "--answer", answer, "--json",
                            "--threads", "1"], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"make_examples.py: score failed: {p.stderr}")
        j = json.loads(p.stdout)
        return {"image": image, "input_ids": j["input_ids"], "answer_start": j["answer_start"]}

    out = {"pad_id": None}
    for name, items in sets.items():
        out[name] = [score(*it) for it in items[:a.per_set]]
    out["prompts"] = [{"image": e["image"], "input_ids": e["input_ids"][:e["answer_start"]]}
                      for e in out["retain"] + out["pd"]]
    with open(os.path.join(a.model, "config.json")) as f:
        config = json.load(f)
    out["pad_id"] = config.get("pad_token_id") or config.get("text_config", {}).get("pad_token_id") or 0
    with open(a.out, "w") as f:
        json.dump(out, f)
    print(f"make_examples.py: {sum(len(v) for k, v in out.items() if k in sets)} examples → {a.out}")


if __name__ == "__main__":
    main()
