"""One MART training step in PyTorch, timed the way `cargo run -p bench -- mart-step` times ours.

The models are TRADES' SmallCNN and the kuangliu CIFAR ResNet-18; the loss is the official MART
code's (github.com/YisenWang/MART, train_mart.py). `--device cpu|cuda|cuda:N` picks where the
model and batch live; on CUDA every clock read waits for the GPU. Prints one JSON line:
{"median_s": ..., "min_s": ..., "peak_rss_bytes": ...}, and on CUDA also "gpu_peak_bytes"
(torch.cuda.max_memory_allocated: the peak of memory held by tensors).
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(64 * 4 * 4, 200), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10))

    def forward(self, x):
        return self.classifier(self.feature_extractor(x).view(-1, 64 * 4 * 4))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(512, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(F.avg_pool2d(out, 4).view(out.size(0), -1))


def mart_step(model, optimizer, x_natural, y, eps, alpha, steps, beta=5.0):
    """train_mart.py's mart_loss followed by the SGD step."""
    kl = nn.KLDivLoss(reduction='none')
    model.eval()
    batch_size = len(x_natural)
    x_adv = x_natural.detach() + 0.001 * torch.randn(x_natural.shape, device=x_natural.device).detach()
    for _ in range(steps):
        x_adv.requires_grad_()
        loss_ce = F.cross_entropy(model(x_adv), y)
        grad = torch.autograd.grad(loss_ce, [x_adv])[0]
        x_adv = x_adv.detach() + alpha * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x_natural - eps), x_natural + eps)
        x_adv = torch.clamp(x_adv, 0.0, 1.0)
    model.train()
    x_adv = torch.clamp(x_adv, 0.0, 1.0).detach()
    optimizer.zero_grad()
    logits = model(x_natural)
    logits_adv = model(x_adv)
    adv_probs = F.softmax(logits_adv, dim=1)
    tmp1 = torch.argsort(adv_probs, dim=1)[:, -2:]
    new_y = torch.where(tmp1[:, -1] == y, tmp1[:, -2], tmp1[:, -1])
    loss_adv = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), new_y)
    nat_probs = F.softmax(logits, dim=1)
    true_probs = torch.gather(nat_probs, 1, (y.unsqueeze(1)).long()).squeeze()
    loss_robust = (1.0 / batch_size) * torch.sum(
        torch.sum(kl(torch.log(adv_probs + 1e-12), nat_probs), dim=1) * (1.0000001 - true_probs))
    loss = loss_adv + float(beta) * loss_robust
    loss.backward()
    optimizer.step()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='smallcnn', choices=['smallcnn', 'resnet18'])
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--pgd-steps', type=int, default=10)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--eps', type=float, default=0.3)
    p.add_argument('--alpha', type=float, default=0.01)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    a = p.parse_args()
    device = torch.device(a.device)
    on_cuda = device.type == 'cuda'
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = (SmallCNN() if a.model == 'smallcnn' else ResNet18()).to(device)
    shape = (a.batch, 1, 28, 28) if a.model == 'smallcnn' else (a.batch, 3, 32, 32)
    x = torch.rand(shape).to(device)
    y = torch.randint(0, 10, (a.batch,)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=3.5e-3)

    def finished():
        """The clock once the GPU's queued work is done (launches are asynchronous)."""
        if on_cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter()

    mart_step(model, opt, x, y, a.eps, a.alpha, a.pgd_steps)
    times = []
    for _ in range(a.steps):
        t = finished()
        mart_step(model, opt, x, y, a.eps, a.alpha, a.pgd_steps)
        times.append(finished() - t)
    times.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {'median_s': times[len(times) // 2], 'min_s': times[0], 'peak_rss_bytes': rss}
    if on_cuda:
        result['gpu_peak_bytes'] = torch.cuda.max_memory_allocated(device)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
