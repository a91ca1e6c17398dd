"""`train(cfg)`: the training loop (CPU / CUDA, AMP, DDP, checkpoints, resume, logs, plot)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from mcgip_fast.train import ddp
from mcgip_fast.train.augment import GreyAugment
from mcgip_fast.train.backbones import build_backbone
from mcgip_fast.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, save_encoder, set_rng_state
from mcgip_fast.train.config import TrainConfig
from mcgip_fast.train.data import (FileImages, CachedImages, GlobalBatchSampler, ImageCheckReport, ImageDataset, ImageReadError,
                                   align_to_pairs, check_images, keep_batch, read_manifest, to_views)
from mcgip_fast.train.methods import build_method
from mcgip_fast.train.positives import PositiveLookup
from mcgip_fast.train.samplers import make_batch_sampler

__all__ = ["train", "TrainResult", "NonFiniteLossError", "resolve_device", "cosine_schedule"]

#: Options that must not change between a run and its resume.
RESUME_KEYS = ("method", "gaze", "backbone", "stem", "pool", "width", "in_channels", "image_size", "batch_size", "queue_size",
               "seed", "proj_dim", "hidden_dim", "optimizer", "in_batch_keys", "batch_sampler", "positives_per_anchor",
               "gaze_memory", "gaze_weight", "gaze_warmup_epochs", "loss_average", "variance_weight",
               "covariance_weight", "gaze_predictor", "center_targets", "fixed_predictor_lr")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; training stopped at `step`."""

    def __init__(self, step: int, epoch: int, value: float, last_checkpoint: int | None) -> None:
        self.step = step
        ck = f"; the last checkpoint is at step {last_checkpoint}" if last_checkpoint else ""
        super().__init__(f"loss is {value} at step {step} (epoch {epoch}): training stopped{ck}. "
                         "Try a lower learning rate, --no-amp, or a larger temperature.")


@dataclass
class TrainResult:
    """What a run wrote. `losses` is the loss of every optimiser step (mean over processes)."""

    out_dir: Path
    encoder_path: Path
    checkpoint_path: Path
    log_path: Path
    loss_plot_path: Path | None
    config_path: Path
    losses: list[float]
    steps: int
    image_report: ImageCheckReport = field(default_factory=ImageCheckReport)
    n_gaze_positives: list[float] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {name!r}")
    return dev


def cosine_schedule(total_steps: int, warmup_steps: int, decay: bool = True) -> Callable[[int], float]:
    """LR multiplier: linear warm-up, then cosine decay to 0 at `total_steps` (with `decay=False`, 1 after
    the warm-up)."""
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if not decay:
            return 1.0
        span = max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup_steps, span) / span))
    return f


def gaze_warmup(warmup_steps: float) -> Callable[[int], float]:
    """Weight of the gaze positives at a global step: a linear ramp from 0 to 1 over `warmup_steps`
    (a function of the step alone, so a resumed run gets the same weights)."""
    def f(step: int) -> float:
        return 1.0 if step >= warmup_steps else step / warmup_steps
    return f


def _optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """`params`: param groups (dicts), as torch's optimisers take them; frozen parameters are left out."""
    params = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in params]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def predictor_param_groups(method) -> list[dict]:
    """Two param groups: everything but the predictors, then the predictor and the gaze predictor."""
    predictors = [m for m in (getattr(method, "predictor", None), getattr(method, "gaze_predictor", None))
                  if m is not None]
    if not predictors:
        raise ValueError(f"{type(method).__name__} has no predictor to keep at a fixed learning rate")
    held = {id(p) for m in predictors for p in m.parameters()}
    return [{"params": [p for p in method.parameters() if id(p) not in held]},
            {"params": [p for m in predictors for p in m.parameters()]}]


#: Without a cache, warn when a run decodes this many images whose short side is this many times the input.
LONG_RUN_IMAGES, LARGE_IMAGE_FACTOR = 20_000, 4


def _load_data(cfg: TrainConfig, info: ddp.DistInfo):
    """Manifest aligned with the pairs graph, bad images handled; returns dataset, lookup, report, pairs."""
    manifest = read_manifest(cfg.manifest)
    pairs = None
    if cfg.gaze or cfg.batch_sampler == "gaze":  # the gaze sampler needs the graph even for a baseline
        from mcgip_fast.mining.pairs import PositivePairs

        pairs = PositivePairs.load(cfg.pairs)
        manifest = align_to_pairs(manifest, pairs, cfg.archive_hash)
    # graph index of each row: the pairs' index for pair images, >= n for extra images
    manifest["graph_index"] = np.arange(len(manifest))
    augment = GreyAugment(cfg.image_size, min_scale=cfg.crop_min_scale, solarize_p=cfg.solarize_p)
    if cfg.cache:
        source, manifest, report = _cached_source(cfg, manifest)
    else:
        manifest, report = check_images(manifest, cfg.on_bad_image)
        if len(manifest) == 0:
            raise ValueError(f"no usable images: {report.summary()}")
        source = FileImages(manifest["path"].tolist(), manifest["id"].tolist())
        if info.is_main:
            _suggest_cache(cfg, manifest)
    dataset = ImageDataset(source, cfg.image_size, cfg.in_channels, cfg.seed, augment,
                           graph_index=manifest["graph_index"].to_numpy())
    lookup = PositiveLookup.from_pairs(pairs) if cfg.gaze else None
    return dataset, lookup, report, pairs


def _cached_source(cfg: TrainConfig, manifest):
    """The cache rows of the manifest's images (checked against it); bad images as `check_images` treats them."""
    from mcgip_fast.train.cache import ImageCache

    cache = ImageCache(cfg.cache)
    rows = cache.rows_for(manifest)
    report = cache.report(rows)
    if report.n_skipped and cfg.on_bad_image == "error":
        raise ImageReadError(f"{report.summary()}; fix the manifest or pass on_bad_image='skip' (--on-bad-image skip)")
    ok = (cache.index["status"].to_numpy()[rows] == "ok")
    manifest, rows = manifest[ok].reset_index(drop=True), rows[ok]
    if len(manifest) == 0:
        raise ValueError(f"no usable images: {report.summary()}")
    return CachedImages(cache, rows, manifest["id"].tolist()), manifest, report


def _suggest_cache(cfg: TrainConfig, manifest) -> None:
    """A long run on large images decodes each one again every epoch: say how to prepare a cache."""
    from PIL import Image

    n_loads = len(manifest) * (cfg.epochs if cfg.max_steps is None else min(cfg.epochs, cfg.max_steps * cfg.batch_size // len(manifest) + 1))
    if n_loads < LONG_RUN_IMAGES:
        return
    try:
        with Image.open(manifest["path"].iloc[0]) as im:
            short = min(im.size)
    except Exception:
        return
    if short >= LARGE_IMAGE_FACTOR * cfg.image_size:
        from mcgip_fast.train.cache import default_cache_size

        warnings.warn(
            f"this run decodes {n_loads:,} images of short side {short} px from their files (each one again every epoch); "
            f"decode them once with `mcgip prepare --manifest {cfg.manifest} --size {default_cache_size(cfg.image_size)} "
            f"--out CACHE`, then pass --cache CACHE", stacklevel=3)


@dataclass
class _Run:
    """What the stages of `train` share."""

    cfg: TrainConfig
    info: ddp.DistInfo
    device: torch.device
    out_dir: Path
    ckpt_path: Path
    log_path: Path
    channels_last: bool = False
    pin_memory: bool = False
    amp_dtype: torch.dtype | None = None


def _setup(cfg: TrainConfig) -> _Run:
    """Device, process group, output folder, seeds and the device-side switches."""
    cfg.validate()
    device = resolve_device(cfg.device)
    info = ddp.init_distributed(device)
    if device.type == "cuda" and ddp.is_distributed():
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    out_dir = Path(cfg.out_dir)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    cuda = device.type == "cuda"
    amp_dtype = None
    if cfg.amp and cuda:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return _Run(cfg, info, device, out_dir, out_dir / "checkpoint.pt", out_dir / "metrics.jsonl",
                channels_last=cuda if cfg.channels_last is None else cfg.channels_last,
                pin_memory=cuda if cfg.pin_memory is None else cfg.pin_memory, amp_dtype=amp_dtype)


def _build(run: _Run, lookup, total_steps: int):
    """Method (backbone + heads) on the device, optimiser, LR schedule, loss scaler."""
    cfg = run.cfg
    backbone = build_backbone(cfg.backbone, cfg.in_channels, cfg.width, cfg.pretrained, stem=cfg.stem, pool=cfg.pool)
    method = build_method(cfg, backbone, lookup).to(run.device)
    if run.channels_last:
        method = method.to(memory_format=torch.channels_last)
    groups = predictor_param_groups(method) if cfg.fixed_predictor_lr else [{"params": list(method.parameters())}]
    optimizer = _optimizer(cfg, groups)
    # one multiplier per group: the rest decays; the predictors (if held) warm up, then keep the full lr
    schedules = [cosine_schedule(total_steps, cfg.warmup_steps), cosine_schedule(total_steps, cfg.warmup_steps, decay=False)]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedules[:len(groups)])
    scaler = torch.amp.GradScaler("cuda", enabled=run.amp_dtype == torch.float16)
    return method, optimizer, scheduler, scaler


def _restore(run: _Run, method, optimizer, scheduler, scaler) -> tuple[int, int, int, list[float]]:
    """Resume from the checkpoint (refusing changed options), or start afresh: (epoch, step in epoch, global step, losses)."""
    cfg, info, ckpt_path, log_path = run.cfg, run.info, run.ckpt_path, run.log_path
    if not cfg.resume:
        if info.is_main and log_path.exists():
            log_path.unlink()
        return 0, 0, 0, []
    ckpt = load_checkpoint(ckpt_path)
    saved = ckpt["config"]
    # an option missing from an older checkpoint had its default then
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    changed = [k for k in RESUME_KEYS if saved.get(k, defaults[k]) != getattr(cfg, k)]
    if changed:
        raise ValueError(f"cannot resume {ckpt_path}: options changed since it was written: "
                         + ", ".join(f"{k} {saved.get(k, defaults[k])!r} -> {getattr(cfg, k)!r}" for k in changed))
    if ckpt["world_size"] != info.world_size:
        raise ValueError(f"cannot resume {ckpt_path}: it was written by {ckpt['world_size']} processes, now {info.world_size}")
    method.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt["scaler"]:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"], info.rank, run.device)
    global_step = ckpt["global_step"]
    if info.is_main and log_path.exists():  # drop rows the killed run wrote after its checkpoint
        rows = [r for r in log_path.read_text().splitlines() if r.strip() and json.loads(r)["step"] <= global_step]
        log_path.write_text("".join(r + "\n" for r in rows))
    return ckpt["epoch"], ckpt["step_in_epoch"], global_step, list(ckpt["losses"])


def _wrap(run: _Run, method):
    """DDP and torch.compile around the method (the method itself is what checkpoints save)."""
    model = method
    if ddp.is_distributed():  # also a one-process group (benchmarks/gpu_check.sh starts one)
        model = torch.nn.parallel.DistributedDataParallel(method, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    if run.cfg.compile:
        model = torch.compile(model)
    return model


def _loader(run: _Run, dataset: ImageDataset, sampler: GlobalBatchSampler, epoch: int):
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=run.cfg.num_workers, collate_fn=keep_batch,
                                       pin_memory=run.pin_memory,
                                       # its own generator: creating the iterator must not draw from
                                       # the global RNG, or a mid-epoch resume would drift
                                       generator=torch.Generator().manual_seed(run.cfg.seed + epoch))


def _plot_losses(losses: list[float], path: Path, title: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, lw=0.8, alpha=0.5, label="step")
    if len(losses) >= 10:
        k = max(2, len(losses) // 20)
        ax.plot(steps[k - 1:], np.convolve(losses, np.ones(k) / k, mode="valid"), lw=1.5, label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _open_logs(run: _Run, total_steps: int, global_step: int):
    """metrics.jsonl, optional TensorBoard writer and progress bar (rank 0 only)."""
    cfg, info = run.cfg, run.info
    if not info.is_main:
        return None, None, None
    writer = None
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ValueError("tensorboard logging needs the tensorboard package (pip install tensorboard)") from e
        writer = SummaryWriter(str(run.out_dir / "tensorboard"))
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=global_step, desc=f"{cfg.method}{'+gaze' if cfg.gaze else ''}", unit="step")
    return open(run.log_path, "a"), writer, bar


def _optimise(run: _Run, model, optimizer, scheduler, scaler, view1, view2, index, global_step: int, epoch: int,
              last_ckpt: int | None):
    """Forward (autocast), finite-loss check across ranks, backward, optimiser and schedule step."""
    with torch.autocast(run.device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
        out = model(view1, view2, index)
    loss = out.loss
    finite = torch.isfinite(loss.detach()).float()
    if run.info.world_size > 1:
        finite = ddp.all_reduce_sum(finite) / run.info.world_size
    if finite.item() < 1.0:
        raise NonFiniteLossError(global_step + 1, epoch, float(loss.detach()), last_ckpt)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    return out


def _finish(run: _Run, method, losses: list[float], global_step: int) -> tuple[Path, Path | None]:
    """encoder.pt + encoder.json + loss.png (rank 0), then a barrier."""
    cfg = run.cfg
    encoder_path, plot_path = run.out_dir / "encoder.pt", None
    if run.info.is_main:
        save_encoder(encoder_path, method.backbone)
        (run.out_dir / "encoder.json").write_text(json.dumps({
            "backbone": cfg.backbone, "stem": cfg.stem, "pool": cfg.pool, "width": cfg.width, "in_channels": cfg.in_channels, "image_size": cfg.image_size,
            "method": cfg.method, "gaze": cfg.gaze, "steps": global_step}, indent=2))
        plot_path = _plot_losses(losses, run.out_dir / "loss.png", f"{cfg.method}{' + gaze' if cfg.gaze else ' baseline'}")
    if run.info.world_size > 1:
        torch.distributed.barrier()
    return encoder_path, plot_path


def train(cfg: TrainConfig, *, on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Pre-train an encoder; returns where everything was written.

    Run under ``torchrun --nproc-per-node N`` for DDP (gloo on CPU, NCCL on CUDA). `on_step`,
    if given, is called as ``on_step(global_step, loss)`` after each step (tests use it to kill
    a run part-way). Stages: `_setup` -> `_load_data` -> `_build` -> `_restore` -> `_wrap` ->
    epochs of (`_loader` -> `to_views` on the device -> `_optimise` -> log / checkpoint) -> `_finish`.
    """
    run = _setup(cfg)
    info, device = run.info, run.device
    dataset, lookup, report, pairs = _load_data(cfg, info)
    sampler = make_batch_sampler(cfg, dataset.graph_index, pairs, world_size=info.world_size, rank=info.rank)
    del pairs  # the lookup and the sampler keep what they need
    global_batch = sampler.global_batch
    if cfg.method == "moco" and cfg.queue_size % global_batch:
        raise ValueError(f"queue size {cfg.queue_size} is not a multiple of the global batch size {global_batch} "
                         f"({cfg.batch_size} x {info.world_size} processes)")
    if cfg.gaze_memory % global_batch:
        raise ValueError(f"gaze_memory {cfg.gaze_memory} is not a multiple of the global batch size {global_batch} "
                         f"({cfg.batch_size} x {info.world_size} processes)")
    total_steps = cfg.epochs * sampler.steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    method, optimizer, scheduler, scaler = _build(run, lookup, total_steps)
    start_epoch, start_step, global_step, losses = _restore(run, method, optimizer, scheduler, scaler)
    model = _wrap(run, method)
    if info.is_main:
        cfg.save(run.out_dir / "config.json")
    log, writer, bar = _open_logs(run, total_steps, global_step)

    gaze_counts: list[float] = []
    last_ckpt = global_step if cfg.resume else None
    gaze_scale = gaze_warmup(cfg.gaze_warmup_epochs * sampler.steps_per_epoch)

    def checkpoint(epoch: int, step_in_epoch: int) -> None:
        nonlocal last_ckpt
        rng = rng_state(device)  # collective: every rank
        if info.is_main:
            save_checkpoint(run.ckpt_path, model=method, optimizer=optimizer, scheduler=scheduler, scaler=scaler, rng=rng,
                            epoch=epoch, step_in_epoch=step_in_epoch, global_step=global_step, losses=losses,
                            config=cfg.to_dict(), world_size=info.world_size)
        last_ckpt = global_step

    try:
        model.train()
        epoch = start_epoch
        while epoch < cfg.epochs and global_step < total_steps:
            step_in_epoch = start_step if epoch == start_epoch else 0
            sampler.set_epoch(epoch, step_in_epoch)
            dataset.set_epoch(epoch)
            t_last = time.perf_counter()
            batches = iter(_loader(run, dataset, sampler, epoch))
            while True:
                t_wait = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                t_batch = time.perf_counter()
                view1, view2, index = to_views(batch, dataset.augment, device, in_channels=cfg.in_channels,
                                               non_blocking=run.pin_memory, channels_last=run.channels_last)
                loader_wait, augment_time = t_batch - t_wait, time.perf_counter() - t_batch
                method.gaze_scale = gaze_scale(global_step)
                out = _optimise(run, model, optimizer, scheduler, scaler, view1, view2, index, global_step, epoch, last_ckpt)
                global_step += 1
                step_in_epoch += 1
                method.momentum_update(global_step, total_steps)

                loss_value = float(ddp.all_reduce_sum(out.loss.detach().float()) / info.world_size)
                losses.append(loss_value)
                n_gaze = float(out.n_gaze_positives)
                gaze_counts.append(n_gaze)
                now = time.perf_counter()
                step_time = max(now - t_last, 1e-9)
                ips = global_batch / step_time
                t_last = now
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{ips:.1f}", wait=f"{100 * loader_wait / step_time:.0f}%")
                if log is not None and (global_step % cfg.log_every == 0 or global_step == total_steps):
                    row = {"step": global_step, "epoch": epoch, "loss": loss_value, "lr": scheduler.get_last_lr()[0],
                           "gaze_positives_per_anchor": n_gaze / global_batch, "images_per_s": ips,
                           "loader_wait_s": loader_wait, "augment_s": augment_time, "step_s": step_time, "time": time.time()}
                    if cfg.fixed_predictor_lr:
                        row["predictor_lr"] = scheduler.get_last_lr()[1]
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    if writer is not None:
                        for k in ("loss", "lr", "gaze_positives_per_anchor", "images_per_s", "loader_wait_s"):
                            writer.add_scalar(f"train/{k}", row[k], global_step)
                if global_step % cfg.checkpoint_every == 0 and step_in_epoch < sampler.steps_per_epoch:
                    checkpoint(epoch, step_in_epoch)
                if on_step is not None:
                    on_step(global_step, loss_value)
                if global_step >= total_steps:
                    break
            if step_in_epoch >= sampler.steps_per_epoch:
                epoch += 1
                checkpoint(epoch, 0)
            else:  # stopped by max_steps inside the epoch
                checkpoint(epoch, step_in_epoch)
                break
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
        if writer is not None:
            writer.close()

    encoder_path, plot_path = _finish(run, method, losses, global_step)
    return TrainResult(out_dir=run.out_dir, encoder_path=encoder_path, checkpoint_path=run.ckpt_path, log_path=run.log_path,
                       loss_plot_path=plot_path, config_path=run.out_dir / "config.json", losses=losses, steps=global_step,
                       image_report=report, n_gaze_positives=gaze_counts)

