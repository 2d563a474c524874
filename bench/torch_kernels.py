"""The kernel cases of `cargo run -p bench --release -- kernels --torch`, timed in PyTorch.

Reads the case list (JSON, from bench/src/cases.rs) on stdin and prints one JSON object mapping each
case name to its median seconds per run, timed like the Rust side: a warm-up, then runs until about
0.3 s have passed (at least 5). `--device cpu|cuda|cuda:N` picks where the inputs live; on CUDA each
timed run ends with torch.cuda.synchronize(), so the clock measures the kernel, not its launch.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F


def prepare(case, device):
    op = case['op']
    g = torch.Generator().manual_seed(0)

    def uniform(*shape):
        return (torch.rand(*shape, generator=g) * 2 - 1).to(device)

    if op == 'sgemm':
        a, b = uniform(case['n'], case['n']), uniform(case['n'], case['n'])
        return lambda: torch.matmul(a, b)
    if op.startswith('conv2d'):
        n, c, o, s, k = case['batch'], case['in_ch'], case['out_ch'], case['size'], case['kernel']
        stride, pad = case['stride'], case['padding']
        os_ = (s + 2 * pad - k) // stride + 1
        x, w, dy = uniform(n, c, s, s), uniform(o, c, k, k), uniform(n, o, os_, os_)
        if op == 'conv2d_fwd':
            return lambda: F.conv2d(x, w, None, stride, pad)
        if op == 'conv2d_grad_input':
            return lambda: torch.ops.aten.convolution_backward(
                dy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1, [True, False, False])
        return lambda: torch.ops.aten.convolution_backward(
            dy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1, [False, True, False])
    if op == 'add':
        a, b = uniform(case['len']), uniform(case['len'])
        return lambda: torch.add(a, b)
    if op == 'relu':
        a = uniform(case['len'])
        return lambda: torch.relu(a)
    if op == 'softmax':
        a = uniform(case['rows'], case['cols'])
        return lambda: torch.softmax(a, 1)
    if op == 'memcpy':
        src, dst = uniform(case['len']), torch.empty(case['len'], device=device)
        return lambda: dst.copy_(src)
    raise ValueError(f'unknown op {op}')


def median_seconds(run, budget=0.3):
    run()
    samples, start = [], time.perf_counter()
    while len(samples) < 5 or (time.perf_counter() - start < budget and len(samples) < 1000):
        t = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t)
    samples.sort()
    return samples[len(samples) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True

    def on_device(case):
        """The case's run, followed on CUDA by a wait for the GPU to finish it."""
        kernel = prepare(case, device)
        if device.type != 'cuda':
            return kernel

        def run():
            kernel()
            torch.cuda.synchronize(device)
        return run

    cases = json.load(sys.stdin)
    with torch.no_grad():
        print(json.dumps({c['name']: median_seconds(on_device(c)) for c in cases}))


if __name__ == '__main__':
    main()
