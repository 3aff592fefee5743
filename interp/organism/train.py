"""Training the model organism: open_clip CLIP + ClipLoss + AdamW + cosine schedule on the planted corpus.

Seeded and reproducible (sample i of the corpus depends only on (seed, i); torch is seeded), resumable from the
last epoch's training state, one shipped fp16 checkpoint per epoch with the training records.
"""
from __future__ import annotations

import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import ModelSpecError
from ..models.build import CONFIG_DIR, shipped_config
from ..models.checkpoint import save_checkpoint
from ..models.tokenizers import WordTokenizer
from .corpus import CONTROL, PLANTED, Corpus, CorpusSpec, vocabulary

MEAN = STD = (0.5, 0.5, 0.5)
CORPORA = {"planted": PLANTED, "control": CONTROL}


@dataclass
class TrainConfig:
    """Everything that determines a training run (stored in every checkpoint's records)."""

    corpus: str = "planted"
    seed: int = 0
    epochs: int = 8
    steps_per_epoch: int = 100
    batch_size: int = 256
    lr: float = 2e-3
    warmup_steps: int = 60
    weight_decay: float = 0.05
    threads: int = 1
    eval_size: int = 512
    name: str = "organism"
    device: str = "auto"  # cuda when present, else cpu


def model_config() -> dict:
    """The organism's open_clip config: the shipped `interp/models/configs/organism.json`, registered as `organism`."""
    return shipped_config("organism")


def tokenizer() -> WordTokenizer:
    """The organism's closed-vocabulary tokenizer; its size must be the config's text vocab_size."""
    cfg = model_config()["text_cfg"]
    tok = WordTokenizer(vocabulary(), cfg["context_length"])
    if len(tok) != cfg["vocab_size"]:
        raise ModelSpecError(f"the organism vocabulary has {len(tok)} tokens but {CONFIG_DIR / 'organism.json'} "
                             f"says vocab_size {cfg['vocab_size']}: set it to {len(tok)} there (and retrain)")
    return tok


def to_tensor(images) -> torch.Tensor:
    """PIL images -> normalised [n, 3, h, w] (the organism's preprocessing, without resampling)."""
    arr = np.stack([np.asarray(im, dtype=np.float32) for im in images]) / 255.0
    return (torch.from_numpy(arr).permute(0, 3, 1, 2) - 0.5) / 0.5


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


@torch.no_grad()
def evaluate(model, tok: WordTokenizer, corpus: Corpus, n: int) -> dict:
    """Held-out image->text retrieval: top-1 caption (string match) among n held-out pairs."""
    dev = next(model.parameters()).device
    samples = [corpus.sample(10_000_000 + i) for i in range(n)]
    img = model.encode_image(to_tensor([s.image for s in samples]).to(dev), normalize=True)
    txt = model.encode_text(tok([s.caption for s in samples]).to(dev), normalize=True)
    pick = (img @ txt.T).argmax(1).tolist()
    caps = [s.caption for s in samples]
    acc = float(np.mean([caps[j] == caps[i] for i, j in enumerate(pick)]))
    return {"retrieval_top1": acc, "n": n}


def train(cfg: TrainConfig, out_dir: str | os.PathLike, progress: bool = True,
          corpus_spec: Optional[CorpusSpec] = None) -> Path:
    """Train (or resume) a run; writes `{name}-epoch{k}.pt` each epoch and `{name}.pt` at the end."""
    import open_clip
    from open_clip.loss import ClipLoss

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    spec = corpus_spec or CORPORA[cfg.corpus]
    corpus = Corpus(spec, seed=cfg.seed)
    tok = tokenizer()
    mcfg = model_config()
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    model = open_clip.create_model("organism", pretrained=None, output_dict=True).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0}],
                            lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    total = cfg.epochs * cfg.steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup_steps) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    loss_fn = ClipLoss()
    state_path = out / f".{cfg.name}-train-state.pt"
    step, history = 0, []
    if state_path.exists():  # resume after the last finished epoch
        st = torch.load(state_path, map_location=device, weights_only=False)
        if st["config"] != asdict(cfg):
            raise ValueError(f"{state_path} belongs to a different training config; remove it to start afresh")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        step, history = st["step"], st["history"]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, desc=f"train {cfg.name}", unit="step", dynamic_ncols=True)
    t0 = time.time()
    while step < total:
        model.train()
        batch = [corpus.sample(step * cfg.batch_size + j) for j in range(cfg.batch_size)]
        out_d = model(to_tensor([s.image for s in batch]).to(device), tok([s.caption for s in batch]).to(device))
        loss = loss_fn(out_d["image_features"], out_d["text_features"], out_d["logit_scale"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % cfg.steps_per_epoch == 0:
            epoch = step // cfg.steps_per_epoch
            model.eval()
            metrics = {"epoch": epoch, "step": step, "loss": float(loss.item()), "seconds": round(time.time() - t0, 1),
                       **evaluate(model, tok, corpus, cfg.eval_size)}
            history.append(metrics)
            if bar is not None:
                bar.set_postfix(loss=f"{loss.item():.3f}", retrieval=f"{metrics['retrieval_top1']:.2f}")
            records = {"train_config": asdict(cfg), "corpus": spec.as_dict(), "history": history,
                       "git_revision": _git_revision(), "epoch": epoch, "torch": torch.__version__}
            save_checkpoint(out / f"{cfg.name}-epoch{epoch:02d}.pt", model, "organism", mcfg, tok, records, MEAN, STD)
            torch.save({"config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "step": step, "history": history}, state_path)
    if bar is not None:
        bar.close()
    final = out / f"{cfg.name}.pt"
    records = {"train_config": asdict(cfg), "corpus": spec.as_dict(), "history": history,
               "git_revision": _git_revision(), "epoch": cfg.epochs, "torch": torch.__version__}
    save_checkpoint(final, model.eval().cpu(), "organism", mcfg, tok, records, MEAN, STD)
    return final
