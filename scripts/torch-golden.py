#!/usr/bin/env python3
# Generates test/golden/torch.json (run as /usr/bin/python3 scripts/torch-golden.py): a few forward values and gradients from PyTorch, to pin our
# conventions (padding, dilation, ceil mode, bilinear modes, soft-margin loss) to an outside
# implementation. Run once with Debian's python3-torch; the JSON is committed, torch is not a
# dependency. Tensors are stored in PyTorch's NCHW / (out, in, kh, kw) layouts.
import json
import torch
import torch.nn.functional as F

torch.manual_seed(0)
out = {"torch": torch.__version__}

def t(x):
    return [round(v, 7) for v in x.detach().double().flatten().tolist()]

x = torch.randn(2, 3, 9, 11, dtype=torch.float64, requires_grad=True)
w = torch.randn(5, 3, 3, 3, dtype=torch.float64, requires_grad=True)
b = torch.randn(5, dtype=torch.float64, requires_grad=True)
y = F.conv2d(x, w, b, stride=2, padding=1, dilation=2)
g = torch.randn_like(y)
(y * g).sum().backward()
out["conv2d"] = {"x": t(x), "xShape": list(x.shape), "w": t(w), "wShape": list(w.shape), "b": t(b), "stride": 2, "pad": 1, "dilation": 2,
                 "y": t(y), "yShape": list(y.shape), "g": t(g), "dx": t(x.grad), "dw": t(w.grad), "db": t(b.grad)}

x = torch.randn(1, 2, 7, 9, dtype=torch.float64, requires_grad=True)
y = F.max_pool2d(x, 3, 2, ceil_mode=True)
g = torch.randn_like(y)
(y * g).sum().backward()
out["maxpool3s2ceil"] = {"x": t(x), "xShape": list(x.shape), "y": t(y), "yShape": list(y.shape), "g": t(g), "dx": t(x.grad)}

for align in (True, False):
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    y = F.interpolate(x, size=(7, 11), mode="bilinear", align_corners=align)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    out[f"bilinear_align{int(align)}"] = {"x": t(x), "xShape": list(x.shape), "y": t(y), "yShape": list(y.shape), "g": t(g), "dx": t(x.grad)}

x = torch.randn(37, dtype=torch.float64, requires_grad=True) * 3
x.retain_grad()
lab = torch.randint(0, 2, (37,), dtype=torch.float64) * 2 - 1
loss = F.soft_margin_loss(x, lab, reduction="sum")
loss.backward()
out["soft_margin"] = {"x": t(x), "y": t(lab), "loss": loss.item(), "dx": t(x.grad)}

with open("test/golden/torch.json", "w") as f:
    json.dump(out, f)
print("wrote test/golden/torch.json")
