"""Hardware-friendly widths: kept units rounded up to a multiple, by score."""

from __future__ import annotations

import pytest
import torch

from srprune.errors import UserError
from srprune.models.registry import create_model
from srprune.pruning.config import settings_from_dict
from srprune.pruning.criteria import round_kept_units, score_groups, select_units
from srprune.pruning.surgery import remove_units


@pytest.mark.parametrize("multiple", [8, 16])
def test_kept_units_become_multiples_and_best_scores_return(multiple: int) -> None:
    torch.manual_seed(0)
    model = create_model("basicvsr-uni-24-2").eval()
    groups = model.channel_groups("rsc")
    scores = score_groups(model, groups)
    removed = select_units(groups, scores, 0.45, scope="global")
    rounded = round_kept_units(groups, scores, removed, multiple)
    for g in groups:
        before, after = set(removed[g.name].tolist()), set(rounded[g.name].tolist())
        assert after <= before
        kept = g.units - len(after)
        assert kept % multiple == 0 or kept == g.units
        assert kept - (g.units - len(before)) < multiple  # rounded up, not further
        back = before - after
        if back and after:  # what came back scores at least as high as what stays removed
            assert min(scores[g.name][list(back)]) >= max(scores[g.name][list(after)])
    remove_units(model, groups, rounded)
    model(torch.rand(1, 2, 3, 8, 8))


def test_round_to_one_is_identity_and_setting_is_checked() -> None:
    removed = {"g": torch.tensor([1, 2])}
    assert round_kept_units([], {}, removed, 1) is removed
    with pytest.raises(UserError, match="prune.round_to"):
        settings_from_dict({"round_to": 0})
    assert settings_from_dict({"round_to": 8}).round_to == 8
