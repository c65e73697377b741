"""``srprune prune --method fmp`` end to end on a tiny ESRB and EDSR, plus its user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srprune.cli import main
from srprune.io.model_file import load_model, save_model
from srprune.profile import count_macs, count_params

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "prune" / "fmp_tiny.yaml"
FAST = ["--set", "train.iters=6", "--set", "fmp.search_iters=200", "--set", "fmp.check_every=5",
        "--set", "fmp.latency_repeats=1", "--set", "data.val.max_clips=1", "--device", "cpu",
        "--quiet"]


@pytest.mark.parametrize("arch,scale", [("esrb-1-12", 4), ("edsr-2-8", 3)])
def test_fmp_runs_every_stage_and_meets_its_budget(tmp_path: Path, arch: str, scale: int
                                                   ) -> None:
    out = tmp_path / "run"
    rc = main(["prune", "--method", "fmp", "--config", str(CONFIG), "--out", str(out), *FAST,
               "--set", f"model.name={arch}", "--set", f"model.scale={scale}",
               "--set", "fmp.gamma_c=0.25", "--set", "fmp.gamma_w=0.15"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    selection = json.loads((out / "selection.json").read_text())
    assert selection["completed_by_force"] is False
    params = report["achieved"]["params"]
    assert params["channel"] + params["weight"] >= 0.4
    compact = load_model(out / "model.safetensors")
    pruned = load_model(out / "pruned.safetensors")
    # the accountant's non-zero count of the masked model is the profiler's count of the
    # extracted one, and finetuning kept the removed weights at zero
    lr = tuple(selection["lr_size"])
    assert count_params(pruned)[1] == selection["counts"]["nonzero"]["params"]
    assert count_macs(pruned, lr, nonzero=True)[0] == pytest.approx(
        selection["counts"]["nonzero"]["macs"], rel=1e-9)
    for name, p in compact.named_parameters():
        q = dict(pruned.named_parameters())[name]
        assert torch.all(p[q == 0] == 0), name
    row = report["rows"]["compact"]
    assert row["nonzero_params"] < row["params"]
    assert "psnr" in row and "psnr" in report["rows"]["bicubic"]
    # zeros cost less space than in a dense file of the same model (tensors with few zeros stay
    # dense; tests/test_sparse_file.py checks the proportion on a large sparse tensor)
    save_model(tmp_path / "dense.safetensors", compact)
    saved = (tmp_path / "dense.safetensors").stat().st_size - row["file_bytes"]
    assert saved > 0
    assert (out / "ratios.png").is_file() and (out / "report.md").is_file()


def test_fmp_resumes_and_skips_finished_stages(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["prune", "--method", "fmp", "--config", str(CONFIG), "--out", str(out), *FAST]
    assert main([*args, "--stages", "search"]) == 0
    assert (out / "pruned.safetensors").is_file() and not (out / "model.safetensors").exists()
    before = (out / "pruned.safetensors").read_bytes()
    assert main([*args[:-1], "--stages", "search,finetune"]) == 0
    assert "[search] done already" in capsys.readouterr().out
    assert (out / "pruned.safetensors").read_bytes() == before
    assert (out / "model.safetensors").is_file()


@pytest.mark.parametrize("extra,message", [
    (["--set", "fmp.criterion=fastest"], "fmp.criterion"),
    (["--set", "fmp.gamma_c=0.7", "--set", "fmp.gamma_w=0.4"], "gamma"),
    (["--set", "fmp.bogus=1"], "fmp.bogus"),
    (["--ratio", "0.5"], "budgets"),
    (["--set", "model.name=basicvsr-4-1"], "image-SR"),
    (["--stages", "select"], "unknown stage"),
])
def test_fmp_user_errors_are_one_line(tmp_path: Path, capsys, extra: list[str],
                                      message: str) -> None:
    rc = main(["prune", "--method", "fmp", "--config", str(CONFIG), "--out",
               str(tmp_path / "o"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("path", sorted(CONFIG.parent.glob("*.yaml")), ids=lambda p: p.name)
def test_every_pruning_config_parses(path: Path) -> None:
    from srprune.pruning.config import settings_from_dict
    from srprune.pruning.fmp.settings import fmp_settings_from_dict
    from srprune.train.config import config_from_dict, read_yaml

    data = read_yaml(path)
    if "fmp" in data:
        fmp_settings_from_dict(data.pop("fmp"))
    else:
        settings_from_dict(data.pop("prune"))
        data["model"] = {"file": "dense.safetensors"}
    config_from_dict(data)
