"""The model of ``srprune demo``: a small BasicVSR, and the dense ones shipped in ``assets/``.

The demo (:mod:`srprune.demo`) asks for a variant by ``causal`` (the unidirectional, streamable
BasicVSR) and widths, and knows nothing else of the architecture. No pretrained flow network can
be had offline, so the demo models keep a narrow SPyNet fixed at zero flow (the synthetic motion
is under a pixel per LR frame).
"""

from __future__ import annotations

import torch
from torch import nn

from srprune.models.basicvsr import BasicVSR, BasicVSRConfig

SHIPPED = {False: "demo_basicvsr-32-8_fp16.safetensors",
           True: "demo_basicvsr-uni-32-8_fp16.safetensors"}
"""The shipped dense demo models by ``causal`` (files in ``srprune/assets/``), made by
``srprune demo --train --feat 32 --blocks 8 --flow-feat 8 --iters 800 [--unidirectional]``."""


def demo_model_name(causal: bool, num_feat: int, num_block: int) -> str:
    """The registry name of the demo model (``basicvsr[-uni]-C-B``)."""
    return f"basicvsr-{'uni-' if causal else ''}{num_feat}-{num_block}"


def demo_title(causal: bool, num_feat: int, num_block: int) -> str:
    """How the demo's messages name it (``BasicVSR[-uni]-C-B``)."""
    return f"BasicVSR{'-uni' if causal else ''}-{num_feat}-{num_block}"


@torch.no_grad()
def zero_flow(spynet: nn.Module) -> None:
    """Make SPyNet output exactly zero flow (its last conv at every level set to zero)."""
    for level in spynet.basic_module:
        last = level.basic_module[-1]
        last.weight.zero_()
        last.bias.zero_()


def build_demo_model(causal: bool, num_feat: int, num_block: int, flow_feat: int) -> nn.Module:
    """A fresh demo model. A narrow reconstruction (``recon_feat = num_feat`` instead of
    BasicSR's fixed 64) keeps the HR-resolution convs cheap enough for CPU training; the flow
    network outputs zero flow."""
    model = BasicVSR(BasicVSRConfig(num_feat=num_feat, num_block=num_block, recon_feat=num_feat,
                                    bidirectional=not causal, flow_feat=flow_feat))
    zero_flow(model.spynet)
    return model
