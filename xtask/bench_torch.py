"""The PyTorch side of `cargo xtask bench` (issue #16).

The same work as advcomp's benchmark, in PyTorch on the same machine, so the
two can be compared as a ratio in one run: one LeNet-5 training epoch on the
bundled MNIST digits (batch 64, SGD with momentum 0.9, lr 0.05, weight decay
5e-4), inference on the test digits (batch 500, the median of `--repeats`),
and PGD-40 (L-inf, eps 0.3, alpha 0.01, random start, cross-entropy summed
over the batch) on evenly spaced test digits. The network is advcomp's
LeNet-5 layer for layer: normalisation (mean 0.1307, std 0.3081) as its first
layer, conv 20@5x5, ReLU, max-pool 2, conv 50@5x5, ReLU, max-pool 2, fc 500,
ReLU, fc 10.

Times are taken inside the process (`time.perf_counter`), after `import
torch`, so PyTorch's import is not counted. The script prints one JSON object
on stdout. It is run by `cargo xtask bench` when a Python with `torch` is
found; it is never a dependency of the build or of the tests.
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return shape, data[4 + 4 * dims :]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="folder of the IDX files")
    parser.add_argument("--train-images", type=int, default=8000)
    parser.add_argument("--pgd-images", type=int, default=1000)
    parser.add_argument("--pgd-steps", type=int, default=40)
    parser.add_argument("--attack-batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--ops",
        action="store_true",
        help="time each LeNet-5 operation at batch 64 instead (the PyTorch side of `cargo xtask bench-ops`)",
    )
    args = parser.parse_args()

    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    if args.ops:
        return operations(torch, nn, F, args)

    def load(prefix):
        shape, pixels = read_idx(os.path.join(args.data, prefix + "-images-idx3-ubyte.gz"))
        _, labels = read_idx(os.path.join(args.data, prefix + "-labels-idx1-ubyte.gz"))
        x = torch.from_numpy(np.frombuffer(pixels, dtype=np.uint8).copy())
        x = x.reshape(shape[0], 1, shape[1], shape[2]).float() / 255.0
        y = torch.from_numpy(np.frombuffer(labels, dtype=np.uint8).copy()).long()
        return x, y

    train_x, train_y = load("train")
    test_x, test_y = load("t10k")
    train_x, train_y = train_x[: args.train_images], train_y[: args.train_images]

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 20, 5)
            self.conv2 = nn.Conv2d(20, 50, 5)
            self.fc1 = nn.Linear(800, 500)
            self.fc2 = nn.Linear(500, 10)

        def forward(self, x):
            x = (x - 0.1307) / 0.3081
            x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
            x = x.flatten(1)
            return self.fc2(F.relu(self.fc1(x)))

    model = LeNet5()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    # One training epoch, shuffled by a seeded generator.
    model.train()
    started = time.perf_counter()
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(1))
    for start in range(0, len(order), 64):
        rows = order[start : start + 64]
        optimiser.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(train_x[rows]), train_y[rows])
        loss.backward()
        optimiser.step()
    train_seconds = time.perf_counter() - started

    # Inference on the test digits, batch 500.
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    speeds = []
    with torch.no_grad():
        for _ in range(max(1, args.repeats)):
            started = time.perf_counter()
            correct = 0
            for start in range(0, len(test_x), 500):
                logits = model(test_x[start : start + 500])
                correct += (logits.argmax(1) == test_y[start : start + 500]).sum().item()
            speeds.append(len(test_x) / (time.perf_counter() - started))
    speeds.sort()
    accuracy = correct / len(test_x)

    # PGD-40 on evenly spaced test digits.
    n = min(args.pgd_images, len(test_x))
    rows = torch.tensor([i * len(test_x) // n for i in range(n)])
    images, labels = test_x[rows], test_y[rows]
    eps, alpha = 0.3, 0.01
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    fooled = 0
    for start in range(0, n, args.attack_batch):
        x0 = images[start : start + args.attack_batch]
        y = labels[start : start + args.attack_batch]
        noise = torch.empty_like(x0).uniform_(-eps, eps, generator=generator)
        x = torch.clamp(x0 + noise, 0.0, 1.0)
        for _ in range(args.pgd_steps):
            x.requires_grad_(True)
            loss = F.cross_entropy(model(x), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
            with torch.no_grad():
                x = x + alpha * grad.sign()
                x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp(0.0, 1.0)
        with torch.no_grad():
            fooled += (model(x).argmax(1) != y).sum().item()
    pgd_seconds = time.perf_counter() - started

    json.dump(
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "train_images": len(train_x),
            "train_seconds": train_seconds,
            "inference_images": len(test_x),
            "inference_images_per_second": speeds[len(speeds) // 2],
            "accuracy_after_one_epoch": accuracy,
            "pgd_images": n,
            "pgd_steps": args.pgd_steps,
            "pgd_seconds": pgd_seconds,
            "pgd_success_rate": fooled / n,
        },
        sys.stdout,
    )
    print()


def operations(torch, nn, F, args):
    """Each LeNet-5 operation alone at batch 64, as `cargo xtask bench-ops`
    times it: weights and input tracked, forward ended by reading a sum,
    backward as `(y * ones).sum().backward()`, median of `--repeats`
    (at least 30) after one unmeasured run. Prints a markdown table."""
    n = 64
    conv1, conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
    fc1, fc2 = nn.Linear(800, 500), nn.Linear(500, 10)
    ops = [
        ("conv1 (1→20, 5×5)", (n, 1, 28, 28), conv1),
        ("relu1", (n, 20, 24, 24), F.relu),
        ("pool1 (max 2×2)", (n, 20, 24, 24), lambda x: F.max_pool2d(x, 2, 2)),
        ("conv2 (20→50, 5×5)", (n, 20, 12, 12), conv2),
        ("relu2", (n, 50, 8, 8), F.relu),
        ("pool2 (max 2×2)", (n, 50, 8, 8), lambda x: F.max_pool2d(x, 2, 2)),
        ("fc1 (800→500)", (n, 800), fc1),
        ("fc2 (500→10)", (n, 500), fc2),
    ]
    repeats = max(30, args.repeats)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, median of {repeats}")
    print("\n| operation | forward ms | backward ms |")
    print("|---|---|---|")
    for name, shape, op in ops:
        base = torch.rand(shape)
        forward, backward = [], []
        for i in range(repeats + 1):
            x = base.clone().requires_grad_(True)
            started = time.perf_counter()
            y = op(x)
            y.sum().item()
            f = time.perf_counter() - started
            g = torch.ones_like(y)
            started = time.perf_counter()
            (y * g).sum().backward()
            x.grad.sum().item()
            b = time.perf_counter() - started
            if i > 0:
                forward.append(f)
                backward.append(b)
        forward.sort()
        backward.sort()
        print(f"| {name} | {1e3 * forward[len(forward) // 2]:.2f} | {1e3 * backward[len(backward) // 2]:.2f} |")
    gemm_ceiling(torch, n, repeats)


def gemm_ceiling(torch, n, repeats):
    """The matrix products of one LeNet-5 step alone, each over the whole
    batch, as `cargo xtask bench-ops` times them with the backend's
    matmul (median of `repeats` after one unmeasured run), and their sums
    over a training step, an inference batch and an attack step."""
    p1, p2 = n * 24 * 24, n * 8 * 8
    train, all_, backward = (1, 0, 0), (1, 1, 1), (1, 0, 1)
    products = [
        ("conv1", "forward", 20, 25, p1, all_),
        ("conv1", "weight gradient", 20, p1, 25, train),
        ("conv1", "input gradient", 25, 20, p1, (0, 0, 1)),
        ("conv2", "forward", 50, 500, p2, all_),
        ("conv2", "weight gradient", 50, p2, 500, train),
        ("conv2", "input gradient", 500, 50, p2, backward),
        ("fc1", "forward", n, 800, 500, all_),
        ("fc1", "weight gradient", 800, n, 500, train),
        ("fc1", "input gradient", n, 500, 800, backward),
        ("fc2", "forward", n, 500, 10, all_),
        ("fc2", "weight gradient", 500, n, 10, train),
        ("fc2", "input gradient", n, 10, 500, backward),
    ]
    print("\nThe matrix products of one step alone, each over the whole batch:")
    print("\n| layer | pass | [m, k] x [k, n] | ms | GFLOP/s |")
    print("|---|---|---|---|---|")
    sums = [[0.0, 0.0] for _ in range(3)]
    for layer, pas, m, k, cols, used in products:
        a, b = torch.rand(m, k) * 2 - 1, torch.rand(k, cols) * 2 - 1
        times = []
        for i in range(repeats + 1):
            started = time.perf_counter()
            c = a @ b
            c[0, 0].item()
            if i > 0:
                times.append(time.perf_counter() - started)
        times.sort()
        t = times[len(times) // 2]
        f = 2.0 * m * k * cols
        for s, u in zip(sums, used):
            if u:
                s[0] += t
                s[1] += f
        print(f"| {layer} | {pas} | [{m}, {k}] x [{k}, {cols}] | {1e3 * t:.2f} | {f / t / 1e9:.1f} |")
    print("\n| sum over | MFLOP | ms | GFLOP/s |")
    print("|---|---|---|---|")
    for name, (t, f) in zip(["training step", "inference batch", "attack step"], sums):
        print(f"| {name} | {f / 1e6:.0f} | {1e3 * t:.2f} | {f / t / 1e9:.1f} |")


if __name__ == "__main__":
    main()
