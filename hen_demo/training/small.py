"""Train the project's small offline encoders: ``python -m hen_demo train-encoder --kind vq|kl|dvae|robust``.

``--kind robust`` (robust-small, our extension) has its own trainer and data (tiles only, damaged → clean
pairs): see ``hen_demo.training.robust``. What follows describes vq / kl / dvae.

Data: the offline ``tiles`` (crops of the shipped photographs) and the ``emoji`` glyphs. Held out, never seen
in training: every tile of the photographs in ``HELD_OUT_PHOTOS`` and every 6th emoji. Faces (lfw_subset) and
digits are the project's held-out test sets: never trained on, measured in full. The model card reports MSE and SSIM
(scikit-image, data_range=1, channel_axis) on those held-out images.

Training runs on the CPU in a fixed wall-clock budget (``--minutes``) or a number of steps, whichever
ends first; the learning rate (Adam, warm-up then cosine) and the dVAE temperature follow the fraction
of the budget used. Outputs (atomic writes): ``<out>/<name>.safetensors`` (weights),
``<out>/<name>.json`` (config + metrics) and ``<out>/<name>.md`` (model card).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from hen_demo.assets import assets_dir
from hen_demo.data import emoji, offline
from hen_demo.encoders.base import squared_distances
from hen_demo.encoders.kl_small import SmallKLVAE
from hen_demo.encoders.shipped import KINDS, build_model  # the architectures live with the loader
from hen_demo.encoders.small_blocks import SmallConfig
from hen_demo.images import to_float_tensor
from hen_demo.training.common import (  # noqa: F401  (HELD_OUT_PHOTOS, evaluate: this module's API too)
    HELD_OUT_PHOTOS,
    evaluate,
    optimizer_step,
    reconstruct,
    resize_u8,
    save_model,
    warmup_cosine_lr,
)
from hen_demo.training.robust import train_robust  # --kind robust's own trainer; robust never imports small


def training_data(max_tiles: int | None = None):
    """(train uint8 (N, 64, 64, 3), held-out dict name -> uint8 array)."""
    specs = offline.tile_specs()
    names = [n for n, _ in offline.source_photos()]
    held = {names.index(n) for n in HELD_OUT_PHOTOS}
    train_idx = [i for i, s in enumerate(specs) if s.photo not in held]
    test_idx = [i for i, s in enumerate(specs) if s.photo in held]
    rng = np.random.default_rng(0)
    if max_tiles is not None:
        train_idx = rng.permutation(train_idx)[:max_tiles].tolist()
    test_idx = rng.permutation(test_idx)[:512].tolist()
    tiles_train = offline.load_tiles(train_idx)[0]
    tiles_test = offline.load_tiles(test_idx)[0]
    # emoji: every 6th glyph is held out for the card. Faces and digits are held-out TEST sets of the whole
    # project: nothing is trained on them; they are only measured, in full.
    emoji_imgs = emoji.load_emoji()[0]
    e_test = np.arange(len(emoji_imgs)) % 6 == 0
    digits = offline.load_digits()[0]
    faces = offline.load_faces()[0]
    train = np.concatenate([tiles_train, emoji_imgs[~e_test]])
    return train, {"tiles": tiles_test, "emoji": emoji_imgs[e_test], "digits": digits, "faces": faces}


def _kmeans(x: torch.Tensor, k: int, iters: int, seed: int) -> torch.Tensor:
    """Plain Lloyd k-means on rows of x (M, d) -> centres (k, d); empty clusters take random points."""
    g = torch.Generator().manual_seed(seed)
    c = x[torch.randperm(x.shape[0], generator=g)[:k]].clone()
    for _ in range(iters):
        a = squared_distances(x, c).argmin(1)
        sums = torch.zeros_like(c).index_add_(0, a, x)
        counts = torch.bincount(a, minlength=k).float()
        empty = counts == 0
        c = sums / counts.clamp(min=1)[:, None]
        if empty.any():
            c[empty] = x[torch.randint(0, x.shape[0], (int(empty.sum()),), generator=g)]
    return c


@torch.no_grad()
def warm_start_from_kl(model, kl_path, train_u8: np.ndarray, seed: int = 0) -> str:
    """Initialise a VQ or dVAE from a trained kl-small of the same widths (documented in the model card).

    Encoder body and decoder are copied; the codebook / token embeddings are k-means centres of the KL
    posterior means' channel groups on training images. For the dVAE the logit layer is set so that
    logit_v = (2 e_v·m - |e_v|²) / t, i.e. the nearest embedding to the KL mean m gets the largest logit
    (a linear map of the encoder features, so it fits the 1×1 output convolution exactly).
    """
    cfg: SmallConfig = model.cfg
    kl_sd = load_file(str(Path(kl_path).with_suffix(".safetensors")))
    G, dg, V, C = cfg.groups, cfg.group_dim, cfg.codebook_size, cfg.latent_channels
    last = [k for k in kl_sd if k.startswith("encoder.net.") and k.endswith(".weight")]
    last_idx = max(int(k.split(".")[2]) for k in last)
    wk, bk = f"encoder.net.{last_idx}.weight", f"encoder.net.{last_idx}.bias"
    w_mean, b_mean = kl_sd[wk][:C], kl_sd[bk][:C]  # (C, F, 1, 1), (C,): the posterior-mean head
    own = model.state_dict()
    body = {k: v for k, v in kl_sd.items() if (k.startswith("encoder.") and k not in (wk, bk))
            or k.startswith("decoder.")}
    own.update(body)
    model.load_state_dict(own)
    # posterior means of a sample of training images, split into channel groups
    kl = SmallKLVAE(SmallConfig(**{**cfg.__dict__, "kind": "kl"}))
    kl.load_state_dict(kl_sd)
    rng = np.random.default_rng(seed)
    pick = train_u8[rng.permutation(len(train_u8))[:3000]]
    x = to_float_tensor(pick)
    m = torch.cat([kl.encode_latent(x[i:i + 256]) for i in range(0, len(x), 256)])  # (n, C, g, g)
    vecs = m.reshape(m.shape[0], G, dg, -1).permute(0, 1, 3, 2).reshape(-1, dg)  # (n·G·g·g, dg)
    centres = _kmeans(vecs[torch.randperm(vecs.shape[0])[:200_000]], V, iters=15, seed=seed)  # (V, dg)
    if cfg.kind == "vq":
        q = model.quantizer
        model.encoder.net[last_idx].weight.copy_(w_mean)
        model.encoder.net[last_idx].bias.copy_(b_mean)
        expected = 32 * G * cfg.grid * cfg.grid / V
        q.codebook.copy_(centres)
        q.cluster_size.fill_(expected)
        q.embed_sum.copy_(centres * expected)
        q.initialised.fill_(True)
        return f"copied encoder/decoder, k-means codebook of {V} entries"
    # dVAE: logits from the mean head
    d2 = squared_distances(vecs[:20000], centres)
    t = float(d2.min(1).values.mean().clamp(min=1e-6))  # typical nearest squared distance sets the scale
    conv = model.encoder.net[last_idx]  # (G·V, F, 1, 1)
    wm = w_mean[:, :, 0, 0].reshape(G, dg, -1)  # (G, dg, F)
    bm = b_mean.reshape(G, dg)
    W = 2 * torch.einsum("vd,gdf->gvf", centres, wm) / t  # (G, V, F)
    b = (2 * torch.einsum("vd,gd->gv", centres, bm) - centres.pow(2).sum(1)[None]) / t  # (G, V)
    conv.weight.copy_(W.reshape(G * V, -1)[:, :, None, None])
    conv.bias.copy_(b.reshape(-1))
    model.embed.weight.copy_(centres.T[:, :, None, None])
    return f"copied encoder body/decoder, k-means token embeddings ({V}), logit scale 1/{t:.3g}"


def save_grid(model, held: dict, path: str, per_row: int = 8) -> None:
    """PNG: rows of originals above their reconstructions, for each held-out set."""
    rows = []
    for imgs in held.values():
        pick = resize_u8(imgs[:per_row], model.cfg.image_size)
        rec = reconstruct(model, pick)
        rows += [np.concatenate(list(pick), 1), np.concatenate(list(rec), 1)]
    Image.fromarray(np.concatenate(rows, 0)).resize((per_row * 128, len(rows) * 128), Image.NEAREST).save(path)


def model_card(name: str, cfg: SmallConfig, meta: dict) -> str:
    what = {"vq": "VQ-VAE: straight-through vector quantisation, EMA codebook (data-initialised, dead entries "
                  "restarted), commitment loss. Memory code = pre-quantisation latent; decode quantises first.",
            "kl": "KL-VAE: Gaussian posterior, small KL weight. Memory code = posterior mean; decoded directly.",
            "dvae": "Discrete VAE: Gumbel-softmax over the vocabulary, temperature annealed exponentially, "
                    "straight-through hard samples in the last 30 % of training. Memory code = token embedding "
                    "of the argmax token at each position; decode snaps each position to the nearest token "
                    "embedding."}[cfg.kind]
    t = meta["training"]
    lines = [f"# {name}", "", what, "",
             f"- Input: {cfg.image_size}×{cfg.image_size} RGB in [0, 1]; f4 → latent {cfg.latent_channels}×{cfg.grid}"
             f"×{cfg.grid}; code K = {cfg.code_dim}.",
             f"- Widths: {cfg.channels} (half resolution) / {2 * cfg.channels} (grid); {cfg.num_res} residual "
             f"block(s) at the grid"
             + (f"; {cfg.groups} tokens per grid position ({cfg.group_dim} channels each), vocabulary "
                f"{cfg.codebook_size}." if cfg.kind != "kl" else "."),
             f"- Data: offline tiles (crops of 27 pictures from scikit-image/scikit-learn) except the held-out "
             f"photographs {', '.join(HELD_OUT_PHOTOS)}, plus 5/6 of the Noto emoji ({t['train_images']} training "
             "images), horizontal flips. Faces (lfw_subset) and digits are held-out test sets: never trained on.",
             f"- Training: Adam, lr {t['lr']} (warm-up, cosine), batch {t['batch']}, {t['steps']} steps in "
             f"{t['seconds']:.0f} s on {t['device']} ({t['threads']} thread(s)), seed {t['seed']}. "
             + (f"KL weight {cfg.kl_weight}. " if cfg.kind != "vq" else f"Commitment {cfg.beta_commit}, EMA "
                f"decay {cfg.ema_decay}. ")
             + (f"τ {cfg.tau_start} → {cfg.tau_end}." if cfg.kind == "dvae" else ""),
             *([f"- Warm start: encoder body and decoder copied from `{Path(t['init_from']).stem}`; "
                "codebook / token embeddings = k-means centres of its posterior means' channel groups"
                + ("; logit layer set so the nearest embedding wins" if cfg.kind == "dvae" else "")
                + " (`train.warm_start_from_kl`), then trained as above."] if t.get("init_from") else []),
             "", f"Held-out reconstruction (never seen in training), measured at {cfg.image_size}×{cfg.image_size} "
             "against the originals downscaled to the encoder's input; SSIM from scikit-image (data_range 1, "
             "channel_axis):", "",
             "| set | images | MSE | SSIM |", "|---|---|---|---|"]
    for k, v in meta["metrics"].items():
        lines.append(f"| {k} | {v['n']} | {v['mse']:.5f} | {v['ssim']:.3f} |")
    warm = f" --lr {t['lr']:g} --init-from assets/encoders/kl-small.json" if t.get("init_from") else ""
    tau = f" --tau-start {cfg.tau_start:g}" if cfg.kind == "dvae" and cfg.tau_start != 1.0 else ""
    lines += ["", f"Reproduce: `python -m hen_demo train-encoder --kind {cfg.kind} --minutes "
              f"{t['budget_minutes']:g} --seed {t['seed']}{warm}{tau}` (timing-based schedule: step counts vary "
              "with the machine).", ""]
    return "\n".join(lines)


def train(kind: str, minutes: float = 10.0, max_steps: int = 100000, batch: int = 32, lr: float = 2e-3,
          seed: int = 0, threads: int | None = 1, out_dir=None, name: str | None = None, log=print,
          grid_png: str | None = None, max_tiles: int | None = None, device: str = "cpu", init_from=None,
          **cfg_kwargs) -> dict:
    """Train one small autoencoder; returns the record saved in its JSON. See module docstring."""
    if kind not in KINDS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose one of: {', '.join(KINDS)}")
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = SmallConfig(kind=kind, **cfg_kwargs)
    name = name or f"{kind}-small"
    out_dir = out_dir or assets_dir() / "encoders"
    t_data = time.perf_counter()
    train_u8, held = training_data(max_tiles)
    train_u8 = resize_u8(train_u8, cfg.image_size)
    log(f"[{name}] data: {len(train_u8)} training images, held-out "
        f"{ {k: len(v) for k, v in held.items()} } ({time.perf_counter() - t_data:.1f} s)")
    dev = torch.device(device)
    model = build_model(cfg)
    if init_from:
        log(f"[{name}] warm start from {init_from}: {warm_start_from_kl(model, init_from, train_u8, seed)}")
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    budget = minutes * 60.0
    t0 = time.perf_counter()
    step, warm = 0, 50
    ema = {}
    while step < max_steps:
        progress = max(step / max_steps, (time.perf_counter() - t0) / budget)
        if progress >= 1.0:
            break
        cur_lr = warmup_cosine_lr(opt, lr, step, progress, warm)
        idx = rng.integers(0, len(train_u8), batch)
        xb = to_float_tensor(train_u8[idx])
        flip = torch.from_numpy(rng.random(batch) < 0.5)
        xb[flip] = xb[flip].flip(-1)
        model.train()
        optimizer_step(opt, *model.training_loss(xb.to(dev), progress), ema)
        step += 1
        if step % 100 == 0 or step == 1:
            log(f"[{name}] step {step} t={time.perf_counter() - t0:.0f}s lr={cur_lr:.2e} "
                + " ".join(f"{k}={v:.4g}" for k, v in ema.items()))
    seconds = time.perf_counter() - t0
    model.eval()
    model.to("cpu")
    metrics = evaluate(model, held)
    log(f"[{name}] done: {step} steps in {seconds:.0f} s; held-out {metrics}")
    record = {"metrics": metrics, "training": {
        "steps": step, "seconds": round(seconds, 1), "batch": batch, "lr": lr, "seed": seed,
        "threads": torch.get_num_threads(), "device": device, "budget_minutes": minutes,
        "train_images": int(len(train_u8)), "held_out_photos": list(HELD_OUT_PHOTOS),
        "init_from": str(init_from) if init_from else None,
        "final_train_logs": {k: round(v, 6) for k, v in ema.items()}}}
    save_model(model, cfg, out_dir, name, record, model_card)
    if grid_png:
        save_grid(model, held, grid_png)
    return record


# ---- command line ---------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--kind", required=True, choices=KINDS, help="which autoencoder to train")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget (default 10)")
    parser.add_argument("--steps", type=int, default=100000, help="maximum steps")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", default=None, help="output folder (default assets/encoders)")
    parser.add_argument("--name", default=None, help="output name (default <kind>-small)")
    parser.add_argument("--grid", default=None, help="also save a PNG of originals vs reconstructions here")
    parser.add_argument("--max-tiles", type=int, default=None, help="use at most this many training tiles")
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--latent-channels", type=int, default=None)
    parser.add_argument("--codebook-size", type=int, default=None)
    parser.add_argument("--init-from", default=None,
                        help="warm start (vq/dvae) from a trained kl-small, e.g. assets/encoders/kl-small.json")
    parser.add_argument("--tau-start", type=float, default=None, help="dVAE initial temperature")
    parser.add_argument("--resume", action="store_true", help="robust: continue from the last checkpoint")
    parser.add_argument("--nce-weight", type=float, default=0.02, help="robust: weight of the InfoNCE alignment")


def run(args) -> int:
    extra = {k: getattr(args, k) for k in ("channels", "latent_channels", "codebook_size", "tau_start")
             if getattr(args, k) is not None}
    if args.kind == "robust":  # its own trainer: damaged -> clean pairs, tiles only (training/robust.py)
        extra.pop("tau_start", None)
        extra.pop("codebook_size", None)
        rec = train_robust(minutes=args.minutes, max_steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                           threads=args.threads, out_dir=args.out, name=args.name or "robust-small",
                           max_tiles=args.max_tiles, device=args.device, resume=args.resume,
                           nce_weight=args.nce_weight, log=lambda s: print(s, flush=True), **extra)
        print(json.dumps(rec["metrics"]))
        return 0
    rec = train(args.kind, minutes=args.minutes, max_steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                threads=args.threads, out_dir=args.out, name=args.name, grid_png=args.grid, max_tiles=args.max_tiles,
                device=args.device, init_from=args.init_from, log=lambda s: print(s, flush=True), **extra)
    print(json.dumps(rec["metrics"]))
    return 0
