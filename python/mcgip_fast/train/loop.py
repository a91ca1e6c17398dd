"""`train(cfg)`: the training loop (CPU / CUDA, AMP, DDP, checkpoints, resume, logs, plot)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
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
from mcgip_fast.train.data import ImageCheckReport, ImageDataset, align_to_pairs, check_images, read_manifest
from mcgip_fast.train.methods import build_method
from mcgip_fast.train.positives import PositiveLookup
from mcgip_fast.train.samplers import make_batch_sampler

__all__ = ["train", "TrainResult", "NonFiniteLossError", "resolve_device", "cosine_schedule"]

#: Options that must not change between a run and its resume.
RESUME_KEYS = ("method", "gaze", "backbone", "stem", "pool", "width", "in_channels", "image_size", "batch_size", "queue_size",
               "seed", "proj_dim", "hidden_dim", "optimizer", "in_batch_keys", "batch_sampler", "positives_per_anchor")


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


def cosine_schedule(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear warm-up, then cosine decay to 0 at `total_steps`."""
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup_steps, span) / span))
    return f


def _optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


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
    manifest, report = check_images(manifest, cfg.on_bad_image)
    if len(manifest) == 0:
        raise ValueError(f"no usable images: {report.summary()}")
    augment = GreyAugment(cfg.image_size, min_scale=cfg.crop_min_scale)
    dataset = ImageDataset(manifest["path"].tolist(), cfg.image_size, cfg.in_channels, cfg.seed, augment, manifest["id"].tolist())
    dataset.graph_index = manifest["graph_index"].to_numpy()
    lookup = PositiveLookup.from_pairs(pairs) if cfg.gaze else None
    return dataset, lookup, report, pairs


class _GraphIndexed(torch.utils.data.Dataset):
    """Returns the graph index (not the dataset position) with each pair of views."""

    def __init__(self, ds: ImageDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, k: int):
        v1, v2, _ = self.ds[k]
        return v1, v2, int(self.ds.graph_index[k])


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


def train(cfg: TrainConfig, *, on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Pre-train an encoder; returns where everything was written.

    Run under ``torchrun --nproc-per-node N`` for DDP (gloo on CPU, NCCL on CUDA). `on_step`,
    if given, is called as ``on_step(global_step, loss)`` after each step (tests use it to kill
    a run part-way).
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    info = ddp.init_distributed(device)
    if device.type == "cuda" and info.world_size > 1:
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    out_dir = Path(cfg.out_dir)
    ckpt_path, log_path = out_dir / "checkpoint.pt", out_dir / "metrics.jsonl"
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(cfg.seed)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False

    dataset, lookup, report, pairs = _load_data(cfg, info)
    sampler = make_batch_sampler(cfg, dataset.graph_index, pairs, world_size=info.world_size, rank=info.rank)
    del pairs  # the lookup and the sampler keep what they need
    global_batch = sampler.global_batch
    if cfg.method == "moco" and cfg.queue_size % global_batch:
        raise ValueError(f"queue size {cfg.queue_size} is not a multiple of the global batch size {global_batch} "
                         f"({cfg.batch_size} x {info.world_size} processes)")
    total_steps = cfg.epochs * sampler.steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    backbone = build_backbone(cfg.backbone, cfg.in_channels, cfg.width, cfg.pretrained, stem=cfg.stem, pool=cfg.pool)
    method = build_method(cfg, backbone, lookup).to(device)
    optimizer = _optimizer(cfg, method.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_schedule(total_steps, cfg.warmup_steps))
    amp_dtype = None
    if cfg.amp and device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    start_epoch, start_step, global_step, losses = 0, 0, 0, []
    if cfg.resume:
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
        set_rng_state(ckpt["rng"], info.rank, device)
        start_epoch, start_step, global_step = ckpt["epoch"], ckpt["step_in_epoch"], ckpt["global_step"]
        losses = list(ckpt["losses"])
        if info.is_main and log_path.exists():  # drop rows the killed run wrote after its checkpoint
            rows = [r for r in log_path.read_text().splitlines() if r.strip() and json.loads(r)["step"] <= global_step]
            log_path.write_text("".join(r + "\n" for r in rows))
    elif info.is_main and log_path.exists():
        log_path.unlink()

    model = method
    if info.world_size > 1:
        model = torch.nn.parallel.DistributedDataParallel(method, device_ids=[device.index] if device.type == "cuda" else None)
    if info.is_main:
        cfg.save(out_dir / "config.json")

    writer = None
    if cfg.tensorboard and info.is_main:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ValueError("tensorboard logging needs the tensorboard package (pip install tensorboard)") from e
        writer = SummaryWriter(str(out_dir / "tensorboard"))

    bar = None
    if cfg.progress and info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=global_step, desc=f"{cfg.method}{'+gaze' if cfg.gaze else ''}", unit="step")

    gaze_counts: list[float] = []
    last_ckpt = global_step if cfg.resume else None
    indexed = _GraphIndexed(dataset)

    def checkpoint(epoch: int, step_in_epoch: int) -> None:
        nonlocal last_ckpt
        rng = rng_state(device)  # collective: every rank
        if info.is_main:
            save_checkpoint(ckpt_path, model=method, optimizer=optimizer, scheduler=scheduler, scaler=scaler, rng=rng,
                            epoch=epoch, step_in_epoch=step_in_epoch, global_step=global_step, losses=losses,
                            config=cfg.to_dict(), world_size=info.world_size)
        last_ckpt = global_step

    log = open(log_path, "a") if info.is_main else None
    try:
        model.train()
        epoch = start_epoch
        while epoch < cfg.epochs and global_step < total_steps:
            step_in_epoch = start_step if epoch == start_epoch else 0
            sampler.set_epoch(epoch, step_in_epoch)
            dataset.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(indexed, batch_sampler=sampler, num_workers=cfg.num_workers,
                                                 pin_memory=device.type == "cuda",
                                                 # its own generator: creating the iterator must not draw from
                                                 # the global RNG, or a mid-epoch resume would drift
                                                 generator=torch.Generator().manual_seed(cfg.seed + epoch))
            t_last = time.perf_counter()
            for view1, view2, index in loader:
                view1 = view1.to(device, non_blocking=True)
                view2 = view2.to(device, non_blocking=True)
                index = index.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    out = model(view1, view2, index)
                loss = out.loss
                finite = torch.isfinite(loss.detach()).float()
                if info.world_size > 1:
                    finite = ddp.all_reduce_sum(finite) / info.world_size
                if finite.item() < 1.0:
                    raise NonFiniteLossError(global_step + 1, epoch, float(loss.detach()), last_ckpt)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                global_step += 1
                step_in_epoch += 1
                method.momentum_update(global_step, total_steps)

                loss_value = float(ddp.all_reduce_sum(loss.detach().float()) / info.world_size)
                losses.append(loss_value)
                n_gaze = float(out.n_gaze_positives)
                gaze_counts.append(n_gaze)
                now = time.perf_counter()
                ips = global_batch / max(now - t_last, 1e-9)
                t_last = now
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{ips:.1f}")
                if log is not None and (global_step % cfg.log_every == 0 or global_step == total_steps):
                    row = {"step": global_step, "epoch": epoch, "loss": loss_value, "lr": scheduler.get_last_lr()[0],
                           "gaze_positives_per_anchor": n_gaze / global_batch, "images_per_s": ips, "time": time.time()}
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    if writer is not None:
                        for k in ("loss", "lr", "gaze_positives_per_anchor", "images_per_s"):
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

    encoder_path, plot_path = out_dir / "encoder.pt", None
    if info.is_main:
        save_encoder(encoder_path, method.backbone)
        (out_dir / "encoder.json").write_text(json.dumps({
            "backbone": cfg.backbone, "stem": cfg.stem, "pool": cfg.pool, "width": cfg.width, "in_channels": cfg.in_channels, "image_size": cfg.image_size,
            "method": cfg.method, "gaze": cfg.gaze, "steps": global_step}, indent=2))
        plot_path = _plot_losses(losses, out_dir / "loss.png", f"{cfg.method}{' + gaze' if cfg.gaze else ' baseline'}")
    if info.world_size > 1:
        torch.distributed.barrier()
    return TrainResult(out_dir=out_dir, encoder_path=encoder_path, checkpoint_path=ckpt_path, log_path=log_path,
                       loss_plot_path=plot_path, config_path=out_dir / "config.json", losses=losses, steps=global_step,
                       image_report=report, n_gaze_positives=gaze_counts)
