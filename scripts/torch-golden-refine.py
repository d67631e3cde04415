#!/usr/bin/env python3
# Generates test/golden/refine.json (run as /usr/bin/python3 scripts/torch-golden-refine.py, with
# Debian's python3-torch): SharpMask's refinement written independently in PyTorch (NCHW, the
# official SharpMask.lua's structure with zero padding), its forward pass and every gradient, on a
# small configuration whose sizes divide no tile. Two paths, as the engine runs them:
#   windows: each horizontal branch on window crops with 3 cells of context, unpadded (training);
#   dense:   each horizontal branch over whole maps with padding 1, then the windows cut (inference).
# Tensors are stored in PyTorch's layouts: conv (out, in, kh, kw), linear (out, in), maps NCHW.
import json
import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def t(x):
    return [round(v, 9) for v in x.detach().flatten().tolist()]


E, FS, KM = 5, 3, 8          # embedding width, window cells at the first stage, mask channels
CH = [6, 5, 3]               # trunk channels of the skips (strides 4, 2, 1 of a toy trunk)
WIDTHS = [4, 3, 2]           # first horizontal width per stage
N = 2                        # windows
CTX = 3


def param(*shape, scale=0.4):
    return (torch.randn(*shape) * scale).requires_grad_()


P = {"encode.weight": param(FS * FS * KM, E), "encode.bias": param(FS * FS * KM)}
for i, (c, h) in enumerate(zip(CH, WIDTHS)):
    n = KM >> i
    P[f"stages.{i}.vertical.0.weight"] = param(n, n, 3, 3)
    P[f"stages.{i}.vertical.0.bias"] = param(n)
    P[f"stages.{i}.vertical.1.weight"] = param(n // 2, n, 3, 3)
    P[f"stages.{i}.vertical.1.bias"] = param(n // 2)
    P[f"stages.{i}.horizontal.0.weight"] = param(h, c, 3, 3)
    P[f"stages.{i}.horizontal.0.bias"] = param(h)
    P[f"stages.{i}.horizontal.1.weight"] = param(n, h, 3, 3)
    P[f"stages.{i}.horizontal.1.bias"] = param(n)
    P[f"stages.{i}.horizontal.2.weight"] = param(n // 2, n, 3, 3)
    P[f"stages.{i}.horizontal.2.bias"] = param(n // 2)
P["out.weight"] = param(1, KM >> len(CH), 3, 3)
P["out.bias"] = param(1)


def horizontal(i, x, pad):
    h = F.relu(F.conv2d(x, P[f"stages.{i}.horizontal.0.weight"], P[f"stages.{i}.horizontal.0.bias"], padding=pad))
    h = F.relu(F.conv2d(h, P[f"stages.{i}.horizontal.1.weight"], P[f"stages.{i}.horizontal.1.bias"], padding=pad))
    return F.conv2d(h, P[f"stages.{i}.horizontal.2.weight"], P[f"stages.{i}.horizontal.2.bias"], padding=pad)


def top_down(emb, skips):
    # The encoding's outputs are (y, x, c) ordered, as the engine lays a map out (NHWC).
    m = F.linear(emb, P["encode.weight"], P["encode.bias"]).view(-1, FS, FS, KM).permute(0, 3, 1, 2)
    for i in range(len(CH)):
        v = F.relu(F.conv2d(m, P[f"stages.{i}.vertical.0.weight"], P[f"stages.{i}.vertical.0.bias"], padding=1))
        v = F.conv2d(v, P[f"stages.{i}.vertical.1.weight"], P[f"stages.{i}.vertical.1.bias"], padding=1)
        m = F.interpolate(F.relu(v + skips[i]), scale_factor=2, mode="nearest")
    return F.conv2d(m, P["out.weight"], P["out.bias"], padding=1)


out = {"torch": torch.__version__, "E": E, "featureSize": FS, "mask": KM, "channels": CH, "widths": WIDTHS, "n": N, "context": CTX}
emb = torch.randn(N, E).requires_grad_()

# Windows path: crops with context, unpadded horizontal convolutions.
crops = [torch.randn(N, c, (FS << i) + 2 * CTX, (FS << i) + 2 * CTX).requires_grad_() for i, c in enumerate(CH)]
y = top_down(emb, [horizontal(i, x, 0) for i, x in enumerate(crops)])
g = torch.randn_like(y)
(y * g).sum().backward()
out["windows"] = {
    "params": {k: t(v) for k, v in P.items()}, "shapes": {k: list(v.shape) for k, v in P.items()},
    "embedding": t(emb), "crops": [t(c) for c in crops], "cropShapes": [list(c.shape) for c in crops],
    "y": t(y), "yShape": list(y.shape), "g": t(g),
    "grads": {k: t(v.grad) for k, v in P.items()}, "dEmbedding": t(emb.grad), "dCrops": [t(c.grad) for c in crops],
}
for v in [*P.values(), emb]:
    v.grad = None

# Dense path: whole maps (one image, the first stage's map 2 cells wider than the windows need),
# windows at cells (r, c) cut at (r 2^i, c 2^i) from each horizontal output.
cells = [(0, 1), (2, 0)]
maps = [torch.randn(1, c, (FS + 2) << i, (FS + 3) << i).requires_grad_() for i, c in enumerate(CH)]
hs = [horizontal(i, x, 1) for i, x in enumerate(maps)]
cut = [torch.cat([h[:, :, r << i:(r + FS) << i, c << i:(c + FS) << i] for (r, c) in cells]) for i, h in enumerate(hs)]
y = top_down(emb, cut)
g = torch.randn_like(y)
(y * g).sum().backward()
out["dense"] = {
    "maps": [t(m) for m in maps], "mapShapes": [list(m.shape) for m in maps], "cells": cells,
    "y": t(y), "yShape": list(y.shape), "g": t(g),
    "grads": {k: t(v.grad) for k, v in P.items()}, "dEmbedding": t(emb.grad), "dMaps": [t(m.grad) for m in maps],
}

with open("test/golden/refine.json", "w") as f:
    json.dump(out, f)
print("wrote test/golden/refine.json")
