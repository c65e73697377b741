"""Foreign checkpoint key names written from native ones, independently of srprune's importers."""

from __future__ import annotations

import re


def to_mmagic(key: str) -> str:
    """Native (BasicSR) BasicVSR / SPyNet key -> mmagic's name for it."""
    for native, mm in (("backward_trunk.", "backward_resblocks."),
                       ("forward_trunk.", "forward_resblocks."),
                       ("upconv1.", "upsample1.upsample_conv."),
                       ("upconv2.", "upsample2.upsample_conv.")):
        if key.startswith(native):
            return mm + key[len(native):]
    m = re.fullmatch(r"((?:spynet\.)?basic_module\.\d+\.basic_module\.)(\d+)\.(weight|bias)", key)
    if m:
        return f"{m[1]}{int(m[2]) // 2}.conv.{m[3]}"
    return key
