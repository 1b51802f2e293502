"""Stage 1 of the default demo VLM: the vision encoder and projector, with no language model.

Cheap dense losses on generated scenes (varied_scenes.TRAIN_STYLES only):
  * per encoder token (one 32 x 32 patch of the 128 x 128 input, or 16 x 16 with --patch 16):
    is a shape centred here, its kind, its colour, its centre inside the patch and its size
    (heads on the encoder output, training only);
  * per image: how many shapes (head on the mean of the encoder output);
  * the projector's output for each of the 16 LM tokens (a 32 x 32 cell) is pulled towards
    the language model's input embeddings of a canonical phrase ("red circle" where a shape
    is centred, "empty" elsewhere), so stage 2 starts from embeddings the frozen LM already
    reads as words.

    nice -n 19 python tools/demo_model/pretrain_vision.py --lm SMOLLM.gguf --patch 16 --minutes 20 \
        --eval-every 200 --out OUT
    python tools/demo_model/pretrain_vision.py --lm SMOLLM.gguf --init OUT/last.pt --eval-only --out OUT
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import varied_scenes as V  # noqa: E402
from model import Config, VisionTower, preprocess  # noqa: E402

GRID = 4  # 128 / 32: the 32-pixel-patch (mlp) layout; 16 LM tokens in either layout


def vision_config(patch: int = 32, width: int = 256) -> Config:
    """32-pixel patches: 16 encoder tokens, mlp projector (one embedding per patch).
    16-pixel patches: 64 encoder tokens, idefics3 projector (2 x 2 pixel shuffle, then one
    Linear): still 16 embeddings for the LM, but a small shape spans several patches."""
    if patch == 32:
        proj = dict(projector="mlp", scale_factor=1)
    elif patch == 16:
        proj = dict(projector="idefics3", scale_factor=2)
    else:
        raise ValueError(f"patch size {patch}: 16 or 32")
    return Config(image_size=128, patch_size=patch, v_embd=width, v_head=max(1, width // 32), v_ff=4 * width,
                  v_layer=6, n_embd=576, **proj)


class AuxHeads(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.token = nn.Linear(c.v_embd, 1 + len(V.SHAPES) + len(V.COLOURS) + 3)
        self.count = nn.Linear(c.v_embd, 5)


def sincos_positions(grid: int, dim: int, scale: float = 0.5) -> torch.Tensor:
    """[grid*grid, dim] 2-D sine-cosine position embeddings (MAE's layout: y then x, sin then
    cos, frequencies 1/10000^(i/(dim/4))), raster order; an initial value for the learned
    table, so attention can relate neighbouring patches from the first step."""
    q = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float64) / q)
    yy, xx = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                            indexing="ij")
    parts = []
    for coord in (yy.reshape(-1), xx.reshape(-1)):
        a = coord[:, None] * omega[None, :]
        parts += [a.sin(), a.cos()]
    return (torch.cat(parts, 1) * scale).float()


def _phrase_ids(lm_path: str, phrases: list[str]) -> dict[str, list[int]]:
    """Token ids of " " + phrase: by NanoMind's tokenizer when its library is at $NM_LIB (or
    build/lib/libnanomind.so), else by Hugging Face tokenizers' byte-level BPE built from the
    GGUF's own vocabulary and merges (the same ids for these plain lower-case words)."""
    lib_path = os.environ.get("NM_LIB", "build/lib/libnanomind.so")
    if os.path.exists(lib_path):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        from tools.nanomind_ctypes import NanoMind  # noqa: E402
        with NanoMind(lib_path).load(lm_path) as m:
            return {p: m.tokenize(" " + p, add_special=False) for p in phrases}
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    r = gguf.GGUFReader(lm_path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode() for i in f.data]
    tokens = strings("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strings("tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return {p: tok.encode(" " + p).ids for p in phrases}


def phrase_targets(lm_path: str) -> dict[str, torch.Tensor]:
    """LM input embeddings (mean over the phrase's tokens) of "<colour> <kind>" and "empty"."""
    import gguf
    r = gguf.GGUFReader(lm_path)
    t = next(x for x in r.tensors if x.name == "token_embd.weight")
    phrases = ["empty"] + [f"{c} {k}" for c in V.COLOURS for k in V.SHAPES]
    ids = _phrase_ids(lm_path, phrases)
    n_embd = int(t.shape[0])
    full = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1, n_embd)
    return {p: torch.from_numpy(np.array(full[v], np.float32)).mean(0) for p, v in ids.items()}


def _largest_per_cell(sc, grid: int) -> dict[int, tuple]:
    """cell (raster index on a grid x grid split of the image) -> (radius at 128 px, shape,
    centre's x and y inside the cell) of the largest shape centred there."""
    best = {}
    for sh in sc.shapes:
        px, py = sh.cx * grid, sh.cy * grid
        p = int(min(grid - 1, py)) * grid + int(min(grid - 1, px))
        r128 = sh.r * V.MODEL_SIZE / max(sc.width, sc.height)
        if p not in best or r128 > best[p][0]:
            best[p] = (r128, sh, px % 1.0, py % 1.0)
    return best


def scene_targets(sc, targets: dict[str, torch.Tensor], grid: int = GRID, lm_grid: int = GRID):
    """Dense targets of one scene: per encoder token on a grid x grid split (obj, kind,
    colour, dx, dy, log r of the shape centred there; kind of the topmost shape whose body
    covers the token's centre, or -1); the count; the projector's phrase embedding per LM
    token on an lm_grid x lm_grid split."""
    t = np.zeros((grid * grid, 7), np.float32)
    t[:, 1:3] = -1
    t[:, 6] = -1
    for p, (r128, sh, dx, dy) in _largest_per_cell(sc, grid).items():
        t[p, :6] = (1, V.SHAPES.index(sh.kind), list(V.COLOURS).index(sh.colour), dx, dy, np.log(r128 / 8.0))
    # token centres inside 70% of a shape's radius (in the stretched 128 x 128 input)
    u = (np.arange(grid) + 0.5) / grid
    for sh in sc.shapes:  # drawing order: a later shape covers an earlier one
        ex = (u[None, :] - sh.cx) * sc.width / sh.r
        ey = (u[:, None] - sh.cy) * sc.height / sh.r
        t[(ex ** 2 + ey ** 2).reshape(-1) < 0.49, 6] = V.SHAPES.index(sh.kind)
    pt = [targets["empty"]] * (lm_grid * lm_grid)
    for p, (_, sh, _, _) in _largest_per_cell(sc, lm_grid).items():
        pt[p] = targets[f"{sh.colour} {sh.kind}"]
    return t, len(sc.shapes), torch.stack(pt)


def batch(seeds: list[int], styles, targets: dict[str, torch.Tensor], c: Config):
    imgs, tok, cnt, proj = [], [], [], []
    lm_grid = int(round(c.n_image_tokens ** 0.5))
    for s in seeds:
        sc = V.make_scene(s, styles)
        imgs.append(V.model_input(V.render(sc)))
        t, n, pt = scene_targets(sc, targets, c.grid, lm_grid)
        tok.append(t)
        cnt.append(n)
        proj.append(pt)
    return (preprocess(np.stack(imgs)), torch.from_numpy(np.stack(tok)), torch.tensor(cnt), torch.stack(proj))


def dense_loss(heads: AuxHeads, feats, tok, cnt, kind_weight: float = 1.0, cover_weight: float = 0.0):
    """Stage 1's losses on the encoder output (also kept in stage 2): per token, shape centred
    here (BCE) and, where one is, its kind (CE, times kind_weight), colour (CE) and
    centre/size (smooth L1); the count; with cover_weight, the kind of the shape covering
    each token (CE on the same kind logits: many more labelled tokens per scene)."""
    y = heads.token(feats)
    obj = tok[..., 0]
    loss = F.binary_cross_entropy_with_logits(y[..., 0], obj)
    m = obj > 0
    nk = len(V.SHAPES)
    if m.any():
        loss = loss + kind_weight * F.cross_entropy(y[..., 1:1 + nk][m], tok[..., 1][m].long())
        loss = loss + F.cross_entropy(y[..., 1 + nk:-3][m], tok[..., 2][m].long())
        loss = loss + F.smooth_l1_loss(y[..., -3:][m], tok[..., 3:6][m])
    cover = tok[..., 6] >= 0
    if cover_weight and cover.any():
        loss = loss + cover_weight * F.cross_entropy(y[..., 1:1 + nk][cover], tok[..., 6][cover].long())
    return loss + F.cross_entropy(heads.count(feats.mean(1)), cnt)


# Kind accuracy is also reported per shape radius (pixels of the 128 x 128 input).
SIZE_BUCKETS = ((0, 8, "r<8"), (8, 16, "r8-16"), (16, 32, "r16-32"), (32, 1e9, "r>=32"))


def probe_counts(heads: AuxHeads, feats, tok, cnt) -> dict[str, list[int]]:
    """[right, total] of the heads' reading of a centred shape's kind (overall and per size
    bucket) and colour, and of the count."""
    with torch.no_grad():
        y = heads.token(feats)
        m = tok[..., 0] > 0
        nk = len(V.SHAPES)
        kind_ok = y[..., 1:1 + nk][m].argmax(-1) == tok[..., 1][m].long()
        r = 8.0 * tok[..., 5][m].exp()
        out = {"kind": [int(kind_ok.sum()), int(m.sum())],
               "colour": [int((y[..., 1 + nk:-3][m].argmax(-1) == tok[..., 2][m].long()).sum()), int(m.sum())],
               "count": [int((heads.count(feats.mean(1)).argmax(-1) == cnt).sum()), int(cnt.numel())]}
        for lo, hi, name in SIZE_BUCKETS:
            b = (r >= lo) & (r < hi)
            out[f"kind {name}"] = [int(kind_ok[b].sum()), int(b.sum())]
        return out


def probe_accuracy(heads: AuxHeads, feats, tok, cnt) -> dict[str, float]:
    """How often the heads read a centred shape's kind and colour, and the count, right."""
    return {k: v[0] / max(1, v[1]) for k, v in probe_counts(heads, feats, tok, cnt).items()
            if k in ("kind", "colour", "count")}


def use_bf16(precision: str) -> bool:
    """--precision auto: bf16 only where the CPU has native bf16 matmuls (AVX512-BF16 or AMX).
    Without them oneDNN emulates bf16: on this AVX2 machine (AMD EPYC) the stage-1 encoder's
    step ran ~20x slower than float32, and a [480, 576] x [576, 1536] matmul ~50x slower."""
    if precision != "auto":
        return precision == "bf16"
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def encode(tower: VisionTower, x, bf16: bool):
    """Encoder output and projected embeddings, float32 (bf16 autocast inside when asked)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        feats = tower.features(x)
        out = tower.project(feats)
    return feats.float(), out.float()


def losses(tower: VisionTower, heads: AuxHeads, x, tok, cnt, proj, proj_scale: float, bf16: bool = False,
           kind_weight: float = 1.0, cover_weight: float = 0.0):
    feats, out = encode(tower, x, bf16)
    l_proj = F.mse_loss(out, proj) / proj_scale
    return (dense_loss(heads, feats, tok, cnt, kind_weight, cover_weight) + l_proj, probe_accuracy(heads, feats, tok, cnt),
            float(l_proj))


EVAL_SETS = (("training styles", V.TRAIN_STYLES, 5000), ("held-out styles", V.HELDOUT_STYLES, 7000))
# --easy: a subset of the training styles (plain backgrounds, filled shapes) and only scenes
# whose shapes all have a radius of at least EASY_MIN_R pixels of the 128 x 128 input: a
# curriculum's first stage, and a check that the encoder can learn shape kind at all.
EASY_STYLES = (("plain_light", "plain_dark", "plain_mid"), ("filled",))
EASY_MIN_R = 10.0


def easy_seeds(rng_or_start, n: int) -> list[int]:
    """n seeds whose EASY_STYLES scene has no shape under EASY_MIN_R: drawn from a
    random.Random (training seeds), or counted up from an int (held-out seeds)."""
    out = []
    nxt = rng_or_start if isinstance(rng_or_start, int) else None
    while len(out) < n:
        if nxt is None:
            seed = rng_or_start.randrange(V.TRAIN_SEED_START, 2**31)
        else:
            seed, nxt = nxt, nxt + 1
        sc = V.make_scene(seed, EASY_STYLES)
        if all(sh.r * V.MODEL_SIZE / max(sc.width, sc.height) >= EASY_MIN_R for sh in sc.shapes):
            out.append(seed)
    return out


def evaluate(tower, heads, targets, proj_scale, c: Config, n_scenes: int, bf16: bool, easy: bool = False) -> str:
    """The heads' accuracy on held-out scenes (seeds below TRAIN_SEED_START) of the training
    styles and of the held-out styles (and of --easy scenes), in chunks of 64 scenes."""
    parts = []
    sets = EVAL_SETS + ((("easy scenes", EASY_STYLES, 9000),) if easy else ())
    with torch.no_grad():
        for name, styles, first in sets:
            tot: dict[str, list[int]] = {}
            mse = 0.0
            all_seeds = easy_seeds(first, n_scenes) if styles is EASY_STYLES else range(first, first + n_scenes)
            for i in range(0, n_scenes, 64):
                seeds = list(all_seeds[i:i + 64])
                x, tok, cnt, proj = batch(seeds, styles, targets, c)
                feats, out = encode(tower, x, bf16)
                mse += float(F.mse_loss(out, proj, reduction="sum")) / (proj.numel() * proj_scale)
                for k, (a, b) in probe_counts(heads, feats, tok, cnt).items():
                    tot.setdefault(k, [0, 0])
                    tot[k][0] += a
                    tot[k][1] += b
            acc = " ".join(f"{k} {a / max(1, b):.3f}" + (f" ({b})" if k.startswith("kind ") else "")
                           for k, (a, b) in tot.items())
            parts.append(f"{name}: {acc} proj {mse * 64 / n_scenes:.3f}")
    return " | ".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", required=True, help="the language model GGUF (its input embeddings are the targets)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, help="wall-clock budget: the run stops then, and the LR schedule "
                    "follows the steps the remaining time allows at the recent running speed, so a pause "
                    "(SIGSTOP) shortens the rest of the schedule instead of jumping it")
    ap.add_argument("--steps", type=int, help="cosine schedule over this many steps (step-exact)")
    ap.add_argument("--patch", type=int, default=32, choices=(16, 32),
                    help="32: mlp projector; 16: idefics3 projector (2 x 2 pixel shuffle)")
    ap.add_argument("--width", type=int, default=256, help="encoder width (heads of 32, FFN 4x)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--kind-weight", type=float, default=1.0, help="weight of the per-token shape-kind loss")
    ap.add_argument("--cover-weight", type=float, default=0.0,
                    help="weight of a kind loss on every token a shape covers (0: centre tokens only)")
    ap.add_argument("--pos-init", choices=("random", "sincos"), default="random",
                    help="initial position embeddings of a new model: N(0, 0.02) or 2-D sine-cosine")
    ap.add_argument("--easy", action="store_true",
                    help="train on plain backgrounds, filled shapes of radius >= 10 px only (see EASY_STYLES)")
    ap.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="bf16 autocast or float32; auto: bf16 only with native bf16 matmuls (see use_bf16)")
    ap.add_argument("--eval-every", type=int, default=0, help="steps between evaluations (0: at the end only)")
    ap.add_argument("--eval-scenes", type=int, default=256, help="held-out scenes per style set")
    ap.add_argument("--eval-only", action="store_true", help="evaluate --init and stop")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="checkpoint to continue from (its config wins over --patch/--width)")
    args = ap.parse_args(argv)
    args.bf16 = use_bf16(args.precision)
    if not (args.minutes or args.steps or args.eval_only):
        ap.error("give --minutes, --steps or both")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    blob = torch.load(args.init, map_location="cpu") if args.init else None
    c = Config(**blob["config"]) if blob else vision_config(args.patch, args.width)
    tower, heads = VisionTower(c), AuxHeads(c)
    targets = phrase_targets(args.lm)
    proj_scale = float(torch.stack(list(targets.values())).pow(2).mean())
    if blob:
        tower.load_state_dict(blob["vision"])
        heads.load_state_dict(blob["heads"])
    elif args.pos_init == "sincos":
        with torch.no_grad():
            tower.position_embd.copy_(sincos_positions(c.grid, c.v_embd))
    log = open(os.path.join(args.out, "log.txt"), "a")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()
    if args.eval_only:
        te = time.time()
        say(f"eval {args.init} (step {blob.get('step')}), {args.eval_scenes} scenes per set: "
            + evaluate(tower, heads, targets, proj_scale, c, args.eval_scenes, args.bf16, args.easy)
            + f" ({time.time() - te:.0f}s)")
        return 0
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    if blob and "opt" in blob:
        opt.load_state_dict(blob["opt"])
    say(f"config {c.to_dict()} args {vars(args)}")
    rng = random.Random(args.seed)
    stop = {"signal": None}

    def on_signal(signum, _frame):  # finish the step, save, evaluate, exit
        stop["signal"] = signum
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.time()
    deadline = t0 + args.minutes * 60 if args.minutes else None
    step, progress = 0, 0.0
    step_times: list[float] = []
    last_save = t0

    def save():
        torch.save({"config": c.to_dict(), "vision": tower.state_dict(), "heads": heads.state_dict(),
                    "opt": opt.state_dict(), "step": step, "progress": progress}, os.path.join(args.out, "last.pt"))
    while progress < 1 and stop["signal"] is None and (deadline is None or time.time() < deadline):
        ts = time.time()
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * 0.5 * (1 + np.cos(np.pi * progress))
        for g in opt.param_groups:
            g["lr"] = lr
        if args.easy:
            seeds, styles = easy_seeds(rng, args.batch), EASY_STYLES
        else:
            seeds, styles = [rng.randrange(V.TRAIN_SEED_START, 2**31) for _ in range(args.batch)], V.TRAIN_STYLES
        loss, acc, lp = losses(tower, heads, *batch(seeds, styles, targets, c), proj_scale, args.bf16,
                               args.kind_weight, args.cover_weight)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        # Schedule progress: by steps, and/or by the steps the remaining wall time allows at
        # the median of the recent step times (a paused step is an outlier the median ignores).
        step_times = (step_times + [time.time() - ts])[-21:]
        inc = 1.0 / args.steps if args.steps else 0.0
        if deadline is not None:
            left = max(1.0, (deadline - time.time()) / float(np.median(step_times)))
            inc = max(inc, (1.0 - progress) / left)
        progress = min(1.0, progress + inc)
        if step % 10 == 0:
            say(f"step {step} t {time.time() - t0:.0f}s lr {lr:.2e} loss {float(loss):.3f} proj {lp:.3f} "
                f"kind {acc['kind']:.2f} colour {acc['colour']:.2f} count {acc['count']:.2f} "
                f"s/step {np.median(step_times):.2f}")
        if args.eval_every and step % args.eval_every == 0:
            save()
            last_save = time.time()
            te = time.time()
            say(f"eval step {step}: " + evaluate(tower, heads, targets, proj_scale, c, args.eval_scenes, args.bf16, args.easy)
                + f" ({time.time() - te:.0f}s)")
        if time.time() - last_save > 300:  # every 5 minutes: a stopped run loses little
            save()
            last_save = time.time()
    save()
    why = f"signal {stop['signal']}" if stop["signal"] else "schedule done" if progress >= 1 else "time up"
    say(f"stopped ({why}) at step {step} after {time.time() - t0:.0f}s; checkpoint {os.path.join(args.out, 'last.pt')}")
    say(f"eval step {step}: " + evaluate(tower, heads, targets, proj_scale, c, args.eval_scenes, args.bf16, args.easy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
