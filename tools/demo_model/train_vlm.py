"""Stage 2 of the default demo VLM: vision encoder + projector trained LLaVA-style through
the frozen language model (SmolLM2-135M-Instruct, read from its Q4_1 GGUF file).

Each example is one generated scene (varied_scenes.TRAIN_STYLES) and a chat of 1-3
questions about it, rendered and tokenized by NanoMind itself (prompts.py) with the image's
16 embeddings in the first user message. The loss is the answer tokens' cross-entropy
(mean per answer, then over answers, so long descriptions do not drown one-word answers),
plus stage 1's dense per-token losses on the encoder output (weight --aux-weight) so the
encoder keeps what it learned. The language model is frozen: its weights stay exactly
those of the fetched file, so without an image it answers as the instruct model does.

    nice -n 19 python tools/demo_model/train_vlm.py --lm SMOLLM.gguf --init S1/last.pt \\
        --minutes 60 --out OUT

Checkpoints: OUT/last.pt and OUT/best.pt (best exact match on held-out scenes of the
training styles; the held-out *styles* are reported but never used to choose).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import varied_scenes as V  # noqa: E402
from model import Config, VisionTower, preprocess  # noqa: E402
from pretrain_vision import AuxHeads, dense_loss, phrase_targets, scene_targets, use_bf16  # noqa: E402
from prompts import IM_END, PromptLayouts, answer_spans, detokenizer, split_prefix  # noqa: E402
from smollm import FrozenLM  # noqa: E402

ASSISTANT_HEADER = [1, 520, 9531, 198]  # "<|im_start|>assistant\n" in SmolLM2's vocabulary (checked at start)


def load_lm(path: str, dtype: torch.dtype, cache_dir: str | None) -> FrozenLM:
    """FrozenLM, with the dequantised weights cached as a torch file (gguf-py's dequantiser
    takes minutes on a busy machine)."""
    cache = os.path.join(cache_dir, os.path.basename(path) + f".{str(dtype).split('.')[-1]}.pt") if cache_dir else None
    if cache and os.path.exists(cache):
        lm = torch.load(cache)
        lm.requires_grad_(False)
        return lm
    lm = FrozenLM(path, dtype)
    if cache:
        torch.save(lm, cache)
    return lm


class Vlm:
    """The trainable vision tower in front of the frozen LM, with the shared prompt prefix."""

    def __init__(self, lm: FrozenLM, tower: VisionTower, layouts: PromptLayouts):
        self.lm, self.tower, self.layouts = lm, tower, layouts
        probe = layouts.layouts([["x"]], True)[0]
        self.prefix, _ = split_prefix(probe)
        self.past = lm.prefix_cache(self.prefix)

    def image_embeddings(self, pixels: torch.Tensor, autocast: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            feats = self.tower.features(pixels)
            emb = self.tower.project(feats)
        return feats.float(), emb.float()

    def sequences(self, layouts: list[list[int]], emb: torch.Tensor) -> tuple[torch.Tensor, list[list[int]]]:
        """Input embeddings [B, T, n_embd] of the layouts after the shared prefix (image rows
        from emb), right-padded; and the token ids of each tail (-1 for image rows)."""
        tails = []
        for lay in layouts:
            pre, tail = split_prefix(lay)
            assert pre == self.prefix, "every conversation must share the system prefix"
            tails.append(tail)
        T = max(len(t) for t in tails)
        rows = []
        for b, tail in enumerate(tails):
            ids = torch.tensor([t if t >= 0 else 0 for t in tail] + [IM_END] * (T - len(tail)))
            x = self.lm.embed(ids)
            img = [i for i, t in enumerate(tail) if t < 0]
            x = torch.cat([x[:img[0]], emb[b], x[img[-1] + 1:]], 0)
            rows.append(x)
        return torch.stack(rows), tails


def build_batch(rng: random.Random, n: int, styles, targets, layouts: PromptLayouts, max_turns: int,
                grid: int = 4):
    """grid: the encoder's patch grid side (stage 1's dense targets are per encoder token)."""
    imgs, convs, answers, aux, cnt, kinds = [], [], [], [], [], []
    for _ in range(n):
        seed = rng.randrange(V.TRAIN_SEED_START, 2**31)
        sc = V.make_scene(seed, styles)
        k = rng.choice(range(1, max_turns + 1))
        qa = V.pick_questions(sc, rng, k, paraphrase=True)
        conv = []
        for _, q, a in qa:
            conv += [q, a]
        imgs.append(V.model_input(V.render(sc)))
        convs.append(conv)
        answers.append([a for _, _, a in qa])
        kinds.append([kd for kd, _, _ in qa])
        t, c, _ = scene_targets(sc, targets, grid)
        aux.append(t)
        cnt.append(c)
    return preprocess(np.stack(imgs)), layouts.layouts(convs, False), torch.from_numpy(np.stack(aux)), \
        torch.tensor(cnt), kinds


def answer_loss(vlm: Vlm, x: torch.Tensor, tails: list[list[int]]):
    start = len(vlm.prefix)
    hidden, _ = vlm.lm(x, start=start, past=vlm.past)
    # positions whose next token is an answer token
    rows, cols, tgt, owner = [], [], [], []
    n_ans = 0
    for b, tail in enumerate(tails):
        for s, e in answer_spans(tail, ASSISTANT_HEADER):
            for i in range(s, e):
                rows.append(b)
                cols.append(i - 1)
                tgt.append(tail[i])
                owner.append(n_ans)
            n_ans += 1
    logits = vlm.lm.logits(hidden[torch.tensor(rows), torch.tensor(cols)])
    ce = F.cross_entropy(logits, torch.tensor(tgt), reduction="none")
    owner_t = torch.tensor(owner)
    per_answer = torch.zeros(n_ans).index_add_(0, owner_t, ce) / torch.bincount(owner_t, minlength=n_ans).float()
    return per_answer.mean()


@torch.no_grad()
def greedy(vlm: Vlm, pixels: torch.Tensor, questions: list[str], max_new: int = 24, autocast: bool = True,
           batch: int = 32) -> list[list[int]]:
    """Greedy answers (token ids, without the closing <|im_end|>) to a first question about each image."""
    lays = vlm.layouts.layouts([[q] for q in questions], True)
    out: list[list[int] | None] = [None] * len(questions)
    order = sorted(range(len(questions)), key=lambda i: len(lays[i]))
    groups: list[list[int]] = []
    for i in order:  # equal prompt lengths decode together
        if groups and len(lays[groups[-1][0]]) == len(lays[i]) and len(groups[-1]) < batch:
            groups[-1].append(i)
        else:
            groups.append([i])
    for g in groups:
        _, emb = vlm.image_embeddings(pixels[g], autocast)
        x, _ = vlm.sequences([lays[i] for i in g], emb)
        start = len(vlm.prefix)
        B = len(g)
        past = [(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in vlm.past]
        hidden, kv = vlm.lm(x, start=start, past=past)
        past = [(torch.cat([pk, k], 2), torch.cat([pv, v], 2)) for (pk, pv), (k, v) in zip(past, kv)]
        pos = start + x.shape[1]
        toks = vlm.lm.logits(hidden[:, -1]).argmax(-1)
        gen = [[] for _ in g]
        done = [False] * B
        for _ in range(max_new):
            for b in range(B):
                if not done[b]:
                    if int(toks[b]) == IM_END:
                        done[b] = True
                    else:
                        gen[b].append(int(toks[b]))
            if all(done):
                break
            hidden, kv = vlm.lm(vlm.lm.embed(toks[:, None]), start=pos, past=past)
            past = [(torch.cat([pk, k], 2), torch.cat([pv, v], 2)) for (pk, pv), (k, v) in zip(past, kv)]
            pos += 1
            toks = vlm.lm.logits(hidden[:, -1]).argmax(-1)
        for b, i in enumerate(g):
            out[i] = gen[b]
    return out  # type: ignore[return-value]


def eval_set(styles, seeds: list[int]):
    """One first-turn question per scene, kinds drawn evenly: (images, kinds, questions, answers)."""
    imgs, kinds, qs, ans = [], [], [], []
    for s in seeds:
        sc = V.make_scene(s, styles)
        (kind, q, a), = V.pick_questions(sc, random.Random(s * 7919 + 17), 1, paraphrase=False)
        imgs.append(V.model_input(V.render(sc)))
        kinds.append(kind)
        qs.append(q)
        ans.append(a)
    return preprocess(np.stack(imgs)), kinds, qs, ans


def evaluate(vlm: Vlm, detok, data, autocast=True) -> tuple[float, dict[str, str]]:
    pixels, kinds, qs, ans = data
    got = [detok(t) for t in greedy(vlm, pixels, qs, autocast=autocast)]
    per: dict[str, list[int]] = {}
    for k, g, a in zip(kinds, got, ans):
        per.setdefault(k, []).append(int(g.strip() == a))
    total = sum(sum(v) for v in per.values()) / len(kinds)
    return total, {k: f"{sum(v)}/{len(v)}" for k, v in sorted(per.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", required=True)
    ap.add_argument("--init", required=True, help="stage-1 (pretrain_vision.py) or stage-2 checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-turns", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3, help="projector peak rate (encoder: a fifth)")
    ap.add_argument("--aux-weight", type=float, default=0.3)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-scenes", type=int, default=120)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", default=None, help="folder for the dequantised LM weights")
    ap.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="LM weights and vision autocast in bf16 or float32; auto: bf16 only with native bf16 "
                         "matmuls (AVX512-BF16 / AMX), which emulated bf16 made ~50x slower here")
    args = ap.parse_args()
    bf16 = use_bf16(args.precision)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "log.txt"), "a")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    blob = torch.load(args.init, map_location="cpu")
    c = Config(**blob["config"])
    tower, heads = VisionTower(c), AuxHeads(c)
    tower.load_state_dict(blob["vision"])
    heads.load_state_dict(blob["heads"])
    lm = load_lm(args.lm, torch.bfloat16 if bf16 else torch.float32, args.cache)
    layouts = PromptLayouts(args.lm, c.n_image_tokens)
    vlm = Vlm(lm, tower, layouts)
    detok, nm_model = detokenizer(args.lm)
    assert nm_model.tokenize("<|im_start|>assistant\n") == ASSISTANT_HEADER
    targets = phrase_targets(args.lm)

    proj_params = [p for n, p in tower.named_parameters() if n.startswith("mm")]
    proj_ids = {id(p) for p in proj_params}
    enc_params = [p for p in tower.parameters() if id(p) not in proj_ids] + list(heads.parameters())
    opt = torch.optim.AdamW([{"params": proj_params, "scale": 1.0}, {"params": enc_params, "scale": 0.2}],
                            lr=args.lr, weight_decay=0.0)
    if blob.get("stage") == 2:  # continuing stage 2 (a stage-1 checkpoint's optimizer has other groups)
        opt.load_state_dict(blob["opt"])
    val = eval_set(V.TRAIN_STYLES, list(range(0, args.eval_scenes)))
    test = eval_set(V.HELDOUT_STYLES, list(range(0, args.eval_scenes)))
    rng = random.Random(args.seed)
    best = -1.0
    t0 = time.time()
    step = 0

    def save(name, extra):
        torch.save({"config": c.to_dict(), "vision": tower.state_dict(), "heads": heads.state_dict(),
                    "opt": opt.state_dict(), "step": step, "stage": 2, **extra}, os.path.join(args.out, name))

    def run_eval():
        nonlocal best
        te = time.time()
        a, per = evaluate(vlm, detok, val, bf16)
        b, per_b = evaluate(vlm, detok, test, bf16)
        say(f"eval step {step}: held-out scenes of training styles {a:.3f} {per} | held-out styles {b:.3f} {per_b}"
            f" ({time.time() - te:.0f}s)")
        if a > best:
            best = a
            save("best.pt", {"val": a, "test": b})

    while True:
        frac = (time.time() - t0) / (args.minutes * 60)
        if frac >= 1:
            break
        lr = args.lr * min(1.0, (step + 1) / 30) * 0.5 * (1 + np.cos(np.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        pixels, lays, aux_t, cnt, _ = build_batch(rng, args.batch, V.TRAIN_STYLES, targets, layouts, args.max_turns,
                                                     c.grid)
        feats, emb = vlm.image_embeddings(pixels, bf16)
        x, tails = vlm.sequences(lays, emb)
        l_ans = answer_loss(vlm, x, tails)
        l_aux = dense_loss(heads, feats, aux_t, cnt)
        loss = l_ans + args.aux_weight * l_aux
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(tower.parameters()) + list(heads.parameters()), 1.0)
        opt.step()
        step += 1
        if step % 10 == 0:
            say(f"step {step} t {time.time() - t0:.0f}s lr {lr:.2e} answer {float(l_ans):.3f} aux {float(l_aux):.3f}")
        if step % 50 == 0:
            save("last.pt", {})
        if step % args.eval_every == 0:
            run_eval()
    save("last.pt", {})
    run_eval()
    say(f"done: {step} steps in {time.time() - t0:.0f}s; best held-out (training styles) {best:.3f}")


if __name__ == "__main__":
    main()
