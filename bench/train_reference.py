#!/usr/bin/python3
"""PyTorch-Python reference for `semiflow bench train`: a user's training loop over a manifest's
images with torch.utils.data.DataLoader, on the recipe of semiflow's Fashion-MNIST phases:
Resize, RandomCrop with padding 4, horizontal flip, RandAugment(2, 9), normalize; the same
EfficientNetV2 variant as model_speed_reference.py in NHWC, with its stem taking the data's
channels (as semiflow's does) instead of repeating gray images to 3; SGD with weight decay on
conv and linear weights, gradient-norm clipping and an EMA of the weights, as semiflow's train
node does them each step (its loss's class weights and label smoothing and its learning-rate
schedule cost nothing per step and are left out). One head, on the manifest's --label-column: class indices follow first
appearance, not the hierarchy's order, which changes nothing about speed.

A round builds the model and trains it for --epochs epochs, each one a fresh DataLoader
iteration; it is timed from the model's construction to the last step. Alone it runs one round
and prints {"images", "seconds"}. With --serve (how `semiflow bench train` runs it, so that its
rounds interleave with semiflow's) it prints {"torch", "images_per_epoch"} once the manifest is
read, then runs one round per line read from stdin, printing {"images", "seconds"}."""
import argparse
import csv
import json
import os
import sys
import time

import torch
from PIL import Image
from torchvision import transforms

from model_speed_reference import build


class ManifestImages(torch.utils.data.Dataset):
    def __init__(self, manifest, label_column, mode, transform):
        base = os.path.dirname(os.path.abspath(manifest))
        with open(manifest, newline="") as file:
            rows = list(csv.DictReader(file))
        names = {}
        self.paths = [os.path.join(base, row["path"]) for row in rows]
        self.labels = [label_index(row.get(label_column) or "", names) for row in rows]
        self.mode = mode
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert(self.mode)), self.labels[index]


# A manifest's label is a class name or index; -1 or empty is unknown (ignored by the loss).
def label_index(field, names):
    if field in ("", "-1"):
        return -1
    return int(field) if field.isdigit() else names.setdefault(field, len(names))


def train_round(args, dataset):
    start = time.perf_counter()
    torch.manual_seed(0)
    model = build(args.arch, args.classes)
    stem = model.features[0][0]
    model.features[0][0] = torch.nn.Conv2d(args.channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding,
                                           bias=False)
    model = model.to(memory_format=torch.channels_last)
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() > 1], "weight_decay": args.weight_decay},
              {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
    optimizer = torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov)
    ema = [p.detach().clone() for p in params] if args.ema_decay > 0 else []
    images = 0
    model.train()
    for _ in range(args.epochs):
        loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers)
        for batch, labels in loader:
            loss = torch.nn.functional.cross_entropy(model(batch.contiguous(memory_format=torch.channels_last)), labels,
                                                     ignore_index=-1)
            optimizer.zero_grad()
            loss.backward()
            if args.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, args.clip_grad_norm)
            optimizer.step()
            with torch.no_grad():
                for average, p in zip(ema, params):
                    average.mul_(args.ema_decay).add_(p, alpha=1 - args.ema_decay)
            images += len(labels)
    return {"images": images, "seconds": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--label-column", required=True, help="the finest level's column")
    parser.add_argument("--classes", type=int, required=True, help="classes of that level")
    parser.add_argument("--arch", default="tiny")
    parser.add_argument("--channels", type=int, default=1, choices=[1, 3])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--mean", type=float, nargs="+", default=[0.286])
    parser.add_argument("--std", type=float, nargs="+", default=[0.353])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--nesterov", type=int, default=1, choices=[0, 1])
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--clip-grad-norm", type=float, default=5.0, help="0: none")
    parser.add_argument("--ema-decay", type=float, default=0.99, help="0: no EMA")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader worker processes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--serve", action="store_true", help="run one round per line read from stdin")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    transform = transforms.Compose([
        transforms.Resize(args.image_size),
        transforms.RandomCrop(args.image_size, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.RandAugment(2, 9),
        transforms.ToTensor(),
        transforms.Normalize(args.mean, args.std),
    ])
    dataset = ManifestImages(args.manifest, args.label_column, "L" if args.channels == 1 else "RGB", transform)
    if not args.serve:
        print(json.dumps(train_round(args, dataset)))
        return
    print(json.dumps({"torch": torch.__version__, "images_per_epoch": len(dataset)}), flush=True)
    for _ in sys.stdin:
        print(json.dumps(train_round(args, dataset)), flush=True)


if __name__ == "__main__":
    main()
