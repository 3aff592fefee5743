"""Model specs and the command line: every spec form, and one clear error (exit 2, no traceback) for bad input."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from activations_store import ActivationStore
from interp import ModelSpecError, SiteError, load_model
from interp.cli import main

from .conftest import ASSETS, ROOT, TINY


def test_random_init_is_seeded_and_checkpoint_path_loads_the_same_weights(tmp_path, tiny):
    again = load_model(TINY)
    other = load_model(TINY.replace(":none", ":none@7"))
    sd = tiny.model.state_dict()
    assert all(torch.equal(v, again.model.state_dict()[k]) for k, v in sd.items())
    assert not torch.equal(sd["visual.proj"], other.model.state_dict()["visual.proj"])
    assert tiny.model_hash == again.model_hash != other.model_hash
    ck = tmp_path / "w.pt"
    torch.save(other.model.state_dict(), ck)
    loaded = load_model(f"{ASSETS / 'tiny-clip.json'}:{ck}")
    assert torch.equal(loaded.model.state_dict()["visual.proj"], other.model.state_dict()["visual.proj"])


def test_pretrained_tag_reads_open_clip_hf_cache_offline(tmp_path, tiny):
    # Lay out a HuggingFace-hub cache exactly as hf_hub_download leaves it, for RN50:openai's hub repo.
    import open_clip

    cfg = open_clip.get_pretrained_cfg("RN50", "openai")
    repo = cfg["hf_hub"].rstrip("/")
    snap = tmp_path / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (tmp_path / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
    (tmp_path / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text("abc123")
    torch.manual_seed(5)
    src = open_clip.create_model("RN50", pretrained=None)
    torch.save(src.state_dict(), snap / "open_clip_pytorch_model.bin")
    lm = load_model("RN50:openai", cache_dir=str(tmp_path))
    assert torch.equal(lm.model.state_dict()["visual.attnpool.c_proj.weight"], src.state_dict()["visual.attnpool.c_proj.weight"])
    with pytest.raises(ModelSpecError, match="not in open_clip's local cache.*Looked at"):
        load_model("RN50:yfcc15m", cache_dir=str(tmp_path / "empty"))
    with pytest.raises(ModelSpecError, match="no pretrained tag 'nope'.*known tags: openai"):
        load_model("RN50:nope")


@pytest.mark.parametrize("spec, message", [
    ("ViT-B-33:none", "unknown model architecture 'ViT-B-33'; did you mean ViT-B-32"),
    ("ViT-B-32:/no/such/file.pt", "checkpoint /no/such/file.pt does not exist"),
    ("garbage", "needs the form NAME:TAG"),
    ("organism@epochX", "unknown organism spec"),
])
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ModelSpecError, match=message.replace("(", "\\(").replace(")", "\\)")):
        load_model(spec)


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ModelSpecError, match="cannot read checkpoint"):
        load_model(f"{ASSETS / 'tiny-clip.json'}:{bad}")


def test_cli_sites_lists_canonical_names(capsys):
    assert main(["sites", TINY, "--tower", "visual"]) == 0
    out = capsys.readouterr().out
    for name in ["visual.embed", "visual.blocks.0.resid_pre", "visual.blocks.1.attn.pattern", "visual.blocks.1.mlp.post",
                 "visual.blocks.1.resid_post", "visual.proj"]:
        assert name in out
    assert "cls_row,object_mass" in out


def test_cli_cache_folder_with_captions_then_resume_and_errors(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, c in enumerate([(255, 0, 0), (0, 0, 255), (0, 255, 0)]):
        Image.new("RGB", (40, 30), c).save(folder / f"im{i}.png")
    (folder / "captions.csv").write_text("file,caption\nim0.png,a red thing\nim1.png,a blue thing\nim2.png,green\n")
    out = tmp_path / "run.h5"
    args = ["cache", "--model", TINY, "--stimuli", str(folder), "--site", "visual.blocks.*.mlp.post:cls,mean",
            "--site", "text.proj", "--out", str(out), "--batch-size", "2", "--quiet"]
    assert main(args) == 0
    with ActivationStore(out) as st:
        assert st.complete and st["visual.blocks.1.mlp.post", "cls"].shape == (3, 128)
        assert list(st.stimuli["caption"]) == ["a red thing", "a blue thing", "green"]
    capsys.readouterr()
    assert main(args) == 2
    assert "complete store" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    bad = [a if a != "text.proj" else "text.blocks.0.mlp.post:cls" for a in args]
    assert main(bad[:-5] + ["--out", str(tmp_path / "b.h5")]) == 2
    assert "text towers have no CLS token" in capsys.readouterr().err
    (folder / "im9.png").write_bytes(b"\x89PNG broken")
    (folder / "captions.csv").write_text((folder / "captions.csv").read_text() + "im9.png,x\n")
    assert main(args[:-5] + ["--out", str(tmp_path / "c.h5"), "--batch-size", "2"]) == 2
    err = capsys.readouterr().err
    assert "cannot read image" in err and "im9.png" in err
    with ActivationStore(tmp_path / "c.h5") as st:  # the batch before the bad image is committed and readable
        assert st.n_committed == 2 and not st.complete


def test_cli_object_mass_without_masks_and_unknown_site(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (32, 32)).save(folder / "a.png")
    assert main(["cache", "--model", TINY, "--stimuli", str(folder), "--site", "visual.blocks.0.attn.pattern:object_mass",
                 "--out", str(tmp_path / "x.h5")]) == 2
    assert "needs per-object masks" in capsys.readouterr().err
    assert main(["cache", "--model", TINY, "--stimuli", str(folder), "--site", "visual.blocks.*.mlp.pst",
                 "--out", str(tmp_path / "x.h5")]) == 2
    assert "did you mean visual.blocks.*.mlp.post" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()  # refused before anything was written


def test_console_script_prints_one_line_not_a_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "interp.cli", "inspect", str(tmp_path / "missing.h5")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip().startswith("clip-interp: error:") and "Traceback" not in r.stderr


def test_probe_set_source_with_masks_stores_object_mass(tmp_path):
    out = tmp_path / "p.h5"
    assert main(["cache", "--model", TINY, "--stimuli", "colour_patches", "--n", "6", "--site",
                 "visual.blocks.1.attn.pattern:cls_row,object_mass", "--out", str(out), "--quiet"]) == 0
    with ActivationStore(out) as st:
        mass = st["visual.blocks.1.attn.pattern", "object_mass"][:]
        row = st["visual.blocks.1.attn.pattern", "cls_row"][:]
        assert mass.shape == (6, 2, 1) and st.masks().shape == (6, 1, 32, 32)
        assert np.all(mass[..., 0] <= row[..., 1:].sum(-1) + 1e-3) and np.all(mass > 0)
