#!/usr/bin/env bash
# torchvision's efficientnet_v2_s and semiflow's import of its state_dict give the same logits
# (1e-4 relative) on the same input. Needs Debian's python3-torch and python3-torchvision; skipped
# (exit 77) without them. Usage: torchvision_parity_test.sh SEMIFLOW
set -euo pipefail
cli=$1
python=/usr/bin/python3
if ! "$python" -c "import torch, torchvision" 2> /dev/null; then
  echo "python3-torch / python3-torchvision not installed: torchvision parity not checked"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$work" <<'PY'
import sys, torch, torchvision
torch.manual_seed(0)
model = torchvision.models.efficientnet_v2_s().eval()
# Random BatchNorm statistics, so the check covers the buffers too.
for module in model.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
        module.running_mean.uniform_(-0.1, 0.1)
        module.running_var.uniform_(0.5, 1.5)
x = torch.randn(2, 3, 96, 96)
with torch.no_grad():
    y = model(x)
torch.save(dict(model.state_dict()), f"{sys.argv[1]}/efficientnet_v2_s.pth")
torch.save({"input": x, "logits": y}, f"{sys.argv[1]}/reference.pt")
torch.save({"input": x, "logits": y * 1.001}, f"{sys.argv[1]}/off_by_0.1_percent.pt")
torch.save(model.state_dict(), f"{sys.argv[1]}/ordered_dict.pth")
PY
"$cli" model import --from torchvision "$work/efficientnet_v2_s.pth" --arch s --classes 1000 \
  --out "$work/imported.pt" --reference "$work/reference.pt"
# The check can fail: logits 0.1% off are refused.
if "$cli" model import "$work/efficientnet_v2_s.pth" --arch s --classes 1000 --out "$work/x.pt" \
     --reference "$work/off_by_0.1_percent.pt" > "$work/err.txt" 2>&1; then
  echo "logits 0.1% off should be refused"; exit 1
fi
grep -q "differ from torchvision" "$work/err.txt"
# New hierarchical heads on the imported features.
printf 'levels:\n  - {name: coarse, classes: [a, b]}\n  - {name: fine, classes: [{a1: a}, {b1: b}, {b2: b}]}\n' > "$work/h.yaml"
"$cli" model import "$work/efficientnet_v2_s.pth" --arch s --hierarchy "$work/h.yaml" --out "$work/hier.pt" | grep -q "new heads"
# state_dict() itself (an OrderedDict) is refused with what to do instead.
if "$cli" model import "$work/ordered_dict.pth" --arch s --classes 1000 --out "$work/o.pt" > "$work/err.txt" 2>&1; then
  echo "an OrderedDict file cannot be read by libtorch and should be refused"; exit 1
fi
grep -q "dict(model.state_dict())" "$work/err.txt"
# A wrong architecture is refused with what does not fit.
if "$cli" model import "$work/efficientnet_v2_s.pth" --arch m --classes 1000 --out "$work/m.pt" > "$work/err.txt" 2>&1; then
  echo "importing S weights as M should fail"; exit 1
fi
grep -q "does not fit EfficientNetV2-m" "$work/err.txt"
echo "torchvision parity passed"
