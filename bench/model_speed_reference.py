#!/usr/bin/python3
"""PyTorch-Python reference for semiflow_bench_model_speed: the same EfficientNetV2 variant
(torchvision's builder with semiflow's stage table scaled by width/depth), batch, input size,
thread count, device, precision (bf16: torch.autocast) and SGD step, timed the same way. Alone it alternates train and inference rounds
and prints one JSON object with the medians. With --serve (how the C++ benchmark runs it, so
that its rounds interleave with semiflow's) it prints {"params", "torch"} once ready, then
times one round per line read ("train" or "inference"), printing {"images_per_s"}, or for "phases"
{"train_phase_ms": {"forward", "backward", "optimizer"}}: a step's parts timed apart."""
import argparse
import json
import math
import statistics
import sys
import time

import torch
from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConvConfig, _make_divisible
from functools import partial

# EfficientNetV2-S (torchvision): block, expansion, kernel, stride, in, out, layers.
S_STAGES = [
    ("fused", 1, 3, 1, 24, 24, 2),
    ("fused", 4, 3, 2, 24, 48, 4),
    ("fused", 4, 3, 2, 48, 64, 4),
    ("mb", 4, 3, 2, 64, 128, 6),
    ("mb", 6, 3, 1, 128, 160, 9),
    ("mb", 6, 3, 2, 160, 256, 15),
]
# EfficientNetV2-B0's table (semiflow's "base", timm's tf_efficientnetv2_b0), stem 32.
BASE_STAGES = [
    ("fused", 1, 3, 1, 32, 16, 1),
    ("fused", 4, 3, 2, 16, 32, 2),
    ("fused", 4, 3, 2, 32, 48, 2),
    ("mb", 4, 3, 2, 48, 96, 3),
    ("mb", 6, 3, 1, 96, 112, 5),
    ("mb", 6, 3, 2, 112, 192, 8),
]
# semiflow's named variants that the reference can build (models/efficientnet_v2_arch.cpp):
# stage table, width, depth, dropout.
VARIANTS = {"tiny": (S_STAGES, 0.25, 0.25, 0.2), "s": (S_STAGES, 1.0, 1.0, 0.2), "b0": (BASE_STAGES, 1.0, 1.0, 0.2)}


def build(arch, classes):
    stages, width, depth, dropout = VARIANTS[arch]
    setting = []
    for block, expand, kernel, stride, cin, cout, layers in stages:
        cin, cout = _make_divisible(cin * width, 8), _make_divisible(cout * width, 8)
        layers = int(math.ceil(layers * depth))
        if block == "fused":
            setting.append(FusedMBConvConfig(expand, kernel, stride, cin, cout, layers))
        else:
            setting.append(MBConvConfig(expand, kernel, stride, cin, cout, layers))
    norm = partial(torch.nn.BatchNorm2d, eps=1e-3)
    return EfficientNet(setting, dropout, stochastic_depth_prob=0.2, num_classes=classes, norm_layer=norm,
                        last_channel=_make_divisible(1280 * width, 8))


def images_per_second(batch, steps, step, device="cpu"):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device != "cpu":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="tiny", choices=sorted(VARIANTS))
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--channels-last", action="store_true", help="NHWC weights and input (not the default)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--serve", action="store_true", help="time one round per line read from stdin")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    model = build(args.arch, args.classes).to(args.device)
    # semiflow's train optimizer: Nesterov SGD, no weight decay on 1-D tensors (BatchNorm, biases).
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=0.05, momentum=0.9, nesterov=True)
    images = torch.randn(args.batch, 3, args.image_size, args.image_size).to(args.device)
    labels = torch.randint(args.classes, (args.batch,)).to(args.device)
    autocast = lambda: torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)

    def loss_of_step():
        with autocast():
            logits = model(images)
        return torch.nn.functional.cross_entropy(logits.float(), labels, ignore_index=-1)

    def train_step():
        model.train()
        optimizer.zero_grad()
        loss_of_step().backward()
        optimizer.step()

    def inference_step():
        model.eval()
        with torch.no_grad(), autocast():
            model(images)

    def train_phases():
        """Milliseconds of a training step's parts, the device synchronised between them (medians over the steps)."""
        synchronize = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
        parts = {"forward": [], "backward": [], "optimizer": []}
        model.train()
        for _ in range(args.steps):
            synchronize()
            start = time.perf_counter()
            optimizer.zero_grad()
            loss = loss_of_step()
            synchronize()
            forward = time.perf_counter()
            loss.backward()
            synchronize()
            backward = time.perf_counter()
            optimizer.step()
            synchronize()
            end = time.perf_counter()
            for part, seconds in (("forward", forward - start), ("backward", backward - forward), ("optimizer", end - backward)):
                parts[part].append(1e3 * seconds)
        return {part: statistics.median(ms) for part, ms in parts.items()}

    train_step()
    inference_step()
    if args.serve:
        print(json.dumps({"params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}), flush=True)
        steps = {"train": train_step, "inference": inference_step}
        for line in sys.stdin:
            request = line.strip()
            if request == "phases":
                print(json.dumps({"train_phase_ms": train_phases()}), flush=True)
                continue
            print(json.dumps({"images_per_s": images_per_second(args.batch, args.steps, steps[request], args.device)}),
                  flush=True)
        return
    train, inference = [], []
    for _ in range(args.rounds):
        train.append(images_per_second(args.batch, args.steps, train_step, args.device))
        inference.append(images_per_second(args.batch, args.steps, inference_step, args.device))
    print(json.dumps({
        "params": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
        "train_images_per_s": statistics.median(train),
        "inference_images_per_s": statistics.median(inference),
    }))


if __name__ == "__main__":
    main()
