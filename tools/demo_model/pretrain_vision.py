"""Stage 1 of the default demo VLM: the vision encoder and projector, with no language model.

Cheap dense losses on generated scenes (varied_scenes.TRAIN_STYLES only):
  * per image token (one 32 x 32 patch of the 128 x 128 input): is a shape centred here,
    its kind, its colour, its centre inside the patch and its size (heads on the encoder
    output, training only);
  * per image: how many shapes (head on the mean of the encoder output);
  * the projector's output for each token is pulled towards the language model's input
    embeddings of a canonical phrase ("red circle" where a shape is centred, "empty"
    elsewhere), so stage 2 starts from embeddings the frozen LM already reads as words.

    nice -n 19 python tools/demo_model/pretrain_vision.py --lm SMOLLM.gguf --minutes 20 --out OUT
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
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import varied_scenes as V  # noqa: E402
from model import Config, VisionTower, preprocess  # noqa: E402

GRID = 4  # 128 / 32


def vision_config() -> Config:
    return Config(image_size=128, patch_size=32, v_embd=256, v_head=8, v_ff=1024, v_layer=6, n_embd=576)


class AuxHeads(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.token = nn.Linear(c.v_embd, 1 + len(V.SHAPES) + len(V.COLOURS) + 3)
        self.count = nn.Linear(c.v_embd, 5)


def phrase_targets(lm_path: str) -> dict[str, torch.Tensor]:
    """LM input embeddings (mean over the phrase's tokens) of "<colour> <kind>" and "empty"."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    from tools.nanomind_ctypes import NanoMind  # noqa: E402
    import gguf
    lib = NanoMind(os.environ.get("NM_LIB", "build/lib/libnanomind.so"))
    r = gguf.GGUFReader(lm_path)
    t = next(x for x in r.tensors if x.name == "token_embd.weight")
    emb = None
    out = {}
    with lib.load(lm_path) as m:
        phrases = ["empty"] + [f"{c} {k}" for c in V.COLOURS for k in V.SHAPES]
        ids = {p: m.tokenize(" " + p, add_special=False) for p in phrases}
    rows = sorted({i for v in ids.values() for i in v})
    n_embd = int(t.shape[0])
    # dequantise only the rows needed
    full = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1, n_embd)
    emb = {i: torch.from_numpy(np.array(full[i], np.float32)) for i in rows}
    for p, v in ids.items():
        out[p] = torch.stack([emb[i] for i in v]).mean(0)
    return out


def scene_targets(sc, targets: dict[str, torch.Tensor]):
    """Dense targets of one scene: per token (obj, kind, colour, dx, dy, log r) and the
    projector's phrase embedding; the shape count."""
    t = np.zeros((GRID * GRID, 6), np.float32)
    t[:, 1:3] = -1
    best = {}
    for sh in sc.shapes:
        px, py = sh.cx * GRID, sh.cy * GRID
        p = int(min(GRID - 1, py)) * GRID + int(min(GRID - 1, px))
        r128 = sh.r * V.MODEL_SIZE / max(sc.width, sc.height)
        if p not in best or r128 > best[p][0]:
            best[p] = (r128, sh, px % 1.0, py % 1.0)
    pt = [targets["empty"]] * (GRID * GRID)
    for p, (r128, sh, dx, dy) in best.items():
        t[p] = (1, V.SHAPES.index(sh.kind), list(V.COLOURS).index(sh.colour), dx, dy, np.log(r128 / 8.0))
        pt[p] = targets[f"{sh.colour} {sh.kind}"]
    return t, len(sc.shapes), torch.stack(pt)


def batch(seeds: list[int], styles, targets: dict[str, torch.Tensor]):
    imgs, tok, cnt, proj = [], [], [], []
    for s in seeds:
        sc = V.make_scene(s, styles)
        imgs.append(V.model_input(V.render(sc)))
        t, n, pt = scene_targets(sc, targets)
        tok.append(t)
        cnt.append(n)
        proj.append(pt)
    return (preprocess(np.stack(imgs)), torch.from_numpy(np.stack(tok)), torch.tensor(cnt), torch.stack(proj))


def dense_loss(heads: AuxHeads, feats, tok, cnt):
    """Stage 1's losses on the encoder output (also kept in stage 2): per token, shape centred
    here (BCE) and, where one is, its kind, colour (CE) and centre/size (smooth L1); the count."""
    y = heads.token(feats)
    obj = tok[..., 0]
    loss = F.binary_cross_entropy_with_logits(y[..., 0], obj)
    m = obj > 0
    nk = len(V.SHAPES)
    if m.any():
        loss = loss + F.cross_entropy(y[..., 1:1 + nk][m], tok[..., 1][m].long())
        loss = loss + F.cross_entropy(y[..., 1 + nk:-3][m], tok[..., 2][m].long())
        loss = loss + F.smooth_l1_loss(y[..., -3:][m], tok[..., 3:][m])
    return loss + F.cross_entropy(heads.count(feats.mean(1)), cnt)


def probe_accuracy(heads: AuxHeads, feats, tok, cnt) -> dict[str, float]:
    """How often the heads read a centred shape's kind and colour, and the count, right."""
    with torch.no_grad():
        y = heads.token(feats)
        m = tok[..., 0] > 0
        nk = len(V.SHAPES)
        return {
            "kind": float((y[..., 1:1 + nk][m].argmax(-1) == tok[..., 1][m].long()).float().mean()),
            "colour": float((y[..., 1 + nk:-3][m].argmax(-1) == tok[..., 2][m].long()).float().mean()),
            "count": float((heads.count(feats.mean(1)).argmax(-1) == cnt).float().mean()),
        }


def losses(tower: VisionTower, heads: AuxHeads, x, tok, cnt, proj, proj_scale: float):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats = tower.features(x)
        out = tower.project(feats)
    feats, out = feats.float(), out.float()
    l_proj = F.mse_loss(out, proj) / proj_scale
    return dense_loss(heads, feats, tok, cnt) + l_proj, probe_accuracy(heads, feats, tok, cnt), float(l_proj)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", required=True, help="the language model GGUF (its input embeddings are the targets)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget; the LR schedule follows it")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="checkpoint to continue from")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    c = vision_config()
    tower, heads = VisionTower(c), AuxHeads(c)
    targets = phrase_targets(args.lm)
    proj_scale = float(torch.stack(list(targets.values())).pow(2).mean())
    if args.init:
        blob = torch.load(args.init, map_location="cpu")
        tower.load_state_dict(blob["vision"])
        heads.load_state_dict(blob["heads"])
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    if args.init and "opt" in blob:
        opt.load_state_dict(blob["opt"])
    rng = random.Random(args.seed)
    eval_seeds = list(range(5000, 5000 + 256))  # held-out scenes of the training styles
    t0 = time.time()
    step = 0
    last_save = t0

    def save():
        torch.save({"config": c.to_dict(), "vision": tower.state_dict(), "heads": heads.state_dict(),
                    "opt": opt.state_dict(), "step": step}, os.path.join(args.out, "last.pt"))
    log = open(os.path.join(args.out, "log.txt"), "a")
    while True:
        frac = (time.time() - t0) / (args.minutes * 60)
        if frac >= 1:
            break
        lr = args.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr
        seeds = [rng.randrange(V.TRAIN_SEED_START, 2**31) for _ in range(args.batch)]
        loss, acc, lp = losses(tower, heads, *batch(seeds, V.TRAIN_STYLES, targets), proj_scale)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 10 == 0:
            msg = (f"step {step} t {time.time() - t0:.0f}s lr {lr:.2e} loss {float(loss):.3f} proj {lp:.3f} "
                   f"kind {acc['kind']:.2f} colour {acc['colour']:.2f} count {acc['count']:.2f}")
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
        if time.time() - last_save > 300:  # every 5 minutes: a stopped run loses little
            save()
            last_save = time.time()
    save()
    with torch.no_grad():
        for name, styles in (("train styles", V.TRAIN_STYLES), ("held-out styles", V.HELDOUT_STYLES)):
            seeds = eval_seeds if styles is V.TRAIN_STYLES else list(range(7000, 7256))
            _, acc, lp = losses(tower, heads, *batch(seeds, styles, targets), proj_scale)
            msg = f"eval {name}: {acc} proj {lp:.3f}"
            print(msg, flush=True)
            log.write(msg + "\n")
    print(f"done: {step} steps in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
