"""Trains the NanoMind demo VLM on generated scenes (CPU, PyTorch) and saves a checkpoint.

    nice -n 19 python tools/demo_model/train.py --minutes 55 --out tools/demo_model/out

Every --eval-every steps it measures exact-match accuracy of greedy answers on held-out
scenes and saves <out>/last.pt; <out>/best.pt keeps the most accurate checkpoint so far.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scenes  # noqa: E402
import tokenizer as T  # noqa: E402
from data import IGNORE, N_CELL_CLASSES, Encoder  # noqa: E402
from generate import answer_batch  # noqa: E402
from model import Config, DemoVLM, preprocess  # noqa: E402


def loss_of(model: DemoVLM, cell_head: torch.nn.Linear, batch,
            aux_weight: float) -> torch.Tensor:
    """Answer-token cross-entropy, plus (training only) a per-patch classification of what
    each grid cell holds, read by cell_head from the projected image embeddings the
    decoder sees. The auxiliary loss gives encoder and projector a dense signal long before
    the decoder learns to ground answers; read from the encoder output instead, it let the
    projector drop shape information the decoder had not yet learned to use (a linear
    probe found shape in 97% of encoder features but at chance after the projector).
    cell_head is not part of the exported model."""
    img = model.vision(preprocess(batch.images))
    logits = model(batch.ids, None, img)
    aux = F.cross_entropy(cell_head(img).reshape(-1, cell_head.out_features), batch.cells.reshape(-1))
    col = int((batch.ids[0] == model.image_token_id).nonzero()[0, 0])
    lab = batch.labels
    pad = torch.full((lab.shape[0], model.c.n_patches), IGNORE, dtype=lab.dtype)
    lab = torch.cat([lab[:, :col], pad, lab[:, col + 1:]], 1)
    # Mean over each answer's tokens, then over the batch: every question counts the same
    # (a per-token mean let 15-token descriptions outweigh one-word answers ten to one).
    target = lab[:, 1:]
    tok = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), target.reshape(-1),
                          ignore_index=IGNORE, reduction="none").view(target.shape)
    counted = (target != IGNORE).float()
    main = ((tok * counted).sum(1) / counted.sum(1).clamp(min=1.0)).mean()
    return main + aux_weight * aux


def evaluate(model: DemoVLM, enc: Encoder, n: int) -> tuple[float, dict[str, float]]:
    batch = enc.make_batch(scenes.heldout_seeds(n))
    got = answer_batch(model, enc, batch)
    per: dict[str, list[int]] = {}
    for q, a, g in zip(batch.questions, batch.answers, got):
        per.setdefault(" ".join(q.split()[:2]), []).append(int(a == g))
    total = sum(sum(v) for v in per.values()) / n
    return total, {k: sum(v) / len(v) for k, v in sorted(per.items())}


def save(path: str, model: DemoVLM, step: int, acc: float) -> None:
    torch.save({"config": model.c.to_dict(), "state": model.state_dict(), "step": step,
                "heldout_acc": acc}, path + ".tmp")
    os.replace(path + ".tmp", path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--minutes", type=float, default=0.0,
                    help="wall-clock budget: the schedule follows max(step/steps, time/budget)"
                         " and training stops when either runs out (0: steps only)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--eval-n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tiny", action="store_true", help="very small model (smoke tests)")
    ap.add_argument("--aux-weight", type=float, default=0.5,
                    help="weight of the per-cell auxiliary loss on the encoder (0: off)")
    ap.add_argument("--init", help="start from this checkpoint's weights (same config)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    enc = Encoder(T.build_tokenizer())
    cfg = Config(vocab=enc.tok.get_vocab_size())
    if args.tiny:
        cfg = Config(vocab=cfg.vocab, v_embd=32, v_head=2, v_ff=64, v_layer=1,
                     n_embd=32, n_head=2, n_head_kv=1, n_ff=64, n_layer=1)
    if args.init:
        ckpt = torch.load(args.init, map_location="cpu")
        cfg = Config(**ckpt["config"])
    model = DemoVLM(cfg, enc.image_id)
    if args.init:
        model.load_state_dict(ckpt["state"])
        print(f"init from {args.init} (step {ckpt['step']}, heldout {ckpt['heldout_acc']:.3f})")
    cell_head = torch.nn.Linear(cfg.n_embd, N_CELL_CLASSES)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"config {json.dumps(cfg.to_dict())}\nparams {n_params}", flush=True)

    trained = list(model.parameters()) + list(cell_head.parameters())
    decay = [p for p in trained if p.dim() >= 2]
    no_decay = [p for p in trained if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr,
                            betas=(0.9, 0.98))

    def progress(step: int) -> float:
        p = step / args.steps
        if args.minutes > 0:
            p = max(p, (time.time() - t0) / (60.0 * args.minutes))
        return min(p, 1.0)

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        t = progress(step)
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))

    best = -1.0
    t0 = time.time()
    ema = None
    step = 0
    while True:
        model.train()
        base = scenes.TRAIN_SEED_START + (args.seed * 10_000_000) + step * args.batch
        batch = enc.make_batch(list(range(base, base + args.batch)))
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = loss_of(model, cell_head, batch, args.aux_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 25 == 0:
            print(f"step {step:5d} loss {loss.item():.4f} ema {ema:.4f} lr {lr_at(step):.2e} "
                  f"t {time.time() - t0:.0f}s", flush=True)
        last = step == args.steps - 1 or progress(step + 1) >= 1.0
        if (step + 1) % args.eval_every == 0 or last:
            acc, per = evaluate(model, enc, args.eval_n)
            print(f"eval step {step + 1} heldout exact {acc:.3f} {json.dumps(per)} "
                  f"t {time.time() - t0:.0f}s", flush=True)
            save(os.path.join(args.out, "last.pt"), model, step + 1, acc)
            if acc >= best:
                best = acc
                save(os.path.join(args.out, "best.pt"), model, step + 1, acc)
        step += 1
        if last:
            break
    print(f"done {step} steps in {time.time() - t0:.0f}s, best heldout exact {best:.3f}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
