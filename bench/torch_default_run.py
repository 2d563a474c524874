"""The default run's recipe in PyTorch, for comparing accuracy curves with `cargo run -p mart --release`.

MART (the official loss), SmallCNN (TRADES' model), the embedded MNIST sample, batch 128, Adam
1e-3, eps 0.3 reached over the first 4 epochs, a 10-step training attack of step 2.5 eps / 10 from
x + 0.001 N(0, 1); after each epoch, natural and PGD-20 (uniform start, 20 steps of eps/10)
accuracy on the first 500 test digits, and at the end on all 1,000. Prints one line per epoch.
The defaults are the default run's (`cargo run -p mart --release`): 12 epochs, PyTorch's default
initialisation, eps rising linearly batch by batch (eps (e B + b + 1) / (4 B) at batch b of epoch
e); `--init trades --ramp per-epoch --epochs 8` is the default run as it was until 2026-12-06
(TRADES' Kaiming-normal convolutions, zero biases and zero last layer; eps 0.075, 0.15, 0.225,
0.3 by epoch).

    python3 bench/torch_default_run.py [--epochs 12] [--init torch|trades]
        [--ramp per-batch|per-epoch] [--seed 0] [--threads 2]
"""
import argparse
import gzip
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_mart_step import SmallCNN

DATA = os.path.join(os.path.dirname(__file__), '..', 'mart', 'data', 'mnist-sample')


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    magic, n = struct.unpack('>II', raw[:8])
    if magic == 2051:
        return np.frombuffer(raw[16:], np.uint8).reshape(n, 1, 28, 28).astype(np.float32) / 255.0
    return np.frombuffer(raw[8:], np.uint8).astype(np.int64)


def trades_init(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    nn.init.zeros_(model.classifier[-1].weight)
    nn.init.zeros_(model.classifier[-1].bias)


def mart_loss(model, x, y, eps, alpha, steps, beta=5.0):
    kl = nn.KLDivLoss(reduction='none')
    model.eval()
    x_adv = x.detach() + 0.001 * torch.randn(x.shape)
    for _ in range(steps):
        x_adv.requires_grad_()
        grad = torch.autograd.grad(F.cross_entropy(model(x_adv), y), [x_adv])[0]
        x_adv = x_adv.detach() + alpha * torch.sign(grad)
        x_adv = torch.clamp(torch.min(torch.max(x_adv, x - eps), x + eps), 0.0, 1.0)
    model.train()
    logits, logits_adv = model(x), model(x_adv.detach())
    adv_probs = F.softmax(logits_adv, dim=1)
    tmp1 = torch.argsort(adv_probs, dim=1)[:, -2:]
    new_y = torch.where(tmp1[:, -1] == y, tmp1[:, -2], tmp1[:, -1])
    loss_adv = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), new_y)
    nat_probs = F.softmax(logits, dim=1)
    true_probs = torch.gather(nat_probs, 1, y.unsqueeze(1)).squeeze()
    loss_robust = (1.0 / len(x)) * torch.sum(
        torch.sum(kl(torch.log(adv_probs + 1e-12), nat_probs), dim=1) * (1.0000001 - true_probs))
    return loss_adv + beta * loss_robust


def accuracy(model, x, y, eps, steps):
    model.eval()
    correct = 0
    for i in range(0, len(x), 250):
        xb, yb = x[i:i + 250], y[i:i + 250]
        if steps:
            xa = xb + torch.empty_like(xb).uniform_(-eps, eps)
            for _ in range(steps):
                xa.requires_grad_()
                grad = torch.autograd.grad(F.cross_entropy(model(xa), yb), [xa])[0]
                xa = xa.detach() + eps / 10 * torch.sign(grad)
                xa = torch.clamp(torch.min(torch.max(xa, xb - eps), xb + eps), 0.0, 1.0)
            xb = xa
        with torch.no_grad():
            correct += (model(xb).argmax(1) == yb).sum().item()
    return 100.0 * correct / len(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--init', choices=['torch', 'trades'], default='torch')
    p.add_argument('--ramp', choices=['per-batch', 'per-epoch'], default='per-batch')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = torch.tensor(idx('train-images-idx3-ubyte.gz')), torch.tensor(idx('train-labels-idx1-ubyte.gz'))
    xte, yte = torch.tensor(idx('t10k-images-idx3-ubyte.gz')), torch.tensor(idx('t10k-labels-idx1-ubyte.gz'))
    model = SmallCNN()
    if a.init == 'trades':
        trades_init(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.time()
    batches = (len(xtr) + 127) // 128
    for epoch in range(a.epochs):
        eps = 0.3 * min(epoch + 1, 4) / 4
        order = torch.randperm(len(xtr))
        for b, i in enumerate(range(0, len(xtr), 128)):
            rows = order[i:i + 128]
            if a.ramp == 'per-batch':
                eps = 0.3 * min(1.0, (epoch * batches + b + 1) / (4 * batches))
            loss = mart_loss(model, xtr[rows], ytr[rows], eps, 0.25 * eps, 10)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f'epoch {epoch + 1} eps {eps:.3f} natural {accuracy(model, xte[:500], yte[:500], 0.3, 0):.1f} '
              f'pgd20 {accuracy(model, xte[:500], yte[:500], 0.3, 20):.1f} ({time.time() - start:.0f} s)', flush=True)
    print(f'final (1000 digits): natural {accuracy(model, xte, yte, 0.3, 0):.1f} '
          f'pgd20 {accuracy(model, xte, yte, 0.3, 20):.1f}', flush=True)


if __name__ == '__main__':
    main()
