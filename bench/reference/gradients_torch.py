#!/usr/bin/python3
"""The script a researcher writes for gradients at init, as the reference sigprop is timed against.

Paper A's standard block (softmax attention, τ = sqrt(n), then a ReLU MLP with c = 2, each a
residual branch with λ = γ = 1 and post-LayerNorm without affine), m tokens, width n, fresh N(0,1)
weights per layer scaled by 1/sqrt(fan-in), the loss L = (1/2m) Σ_α (x_α·u/sqrt(n) − y_α)² of
SPEC §3, and PyTorch autograd for ‖dL/dW‖_F of W_Q, W_K, W_V, W_1, W_2 at every layer. One thread.

Prints one JSON object: layer-samples/s (one layer of one sample, forward and backward) per width.
    /usr/bin/python3 bench/reference/gradients_torch.py --widths 64 256 1024 --depth 32
With --forward, the same network without autograd (torch.no_grad, no loss): the dense forward
reference that sigprop's DENSE sampler is timed against (bench/compare_peers.sh).
"""
import argparse
import json
import math
import time

import torch


def layer_norm(x):
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.pow(2).mean(dim=1, keepdim=True).sqrt()


def one_sample(m, n, depth, generator, forward_only=False):
    x = torch.randn(m, n, generator=generator, dtype=torch.float64)
    weights = []
    for _ in range(depth):
        w = [torch.randn(n, n, generator=generator, dtype=torch.float64,
                         requires_grad=not forward_only)
             for _ in range(5)]
        weights.append(w)
        wq, wk, wv, w1, w2 = w
        root_n = math.sqrt(n)
        q, k, v = x @ wq / root_n, x @ wk / root_n, x @ wv / root_n
        a = torch.softmax(q @ k.T / math.sqrt(n), dim=1)
        x = layer_norm(x + a @ v)
        x = layer_norm(x + math.sqrt(2.0 / n) * torch.relu(x @ w1 / root_n) @ w2)
    if forward_only:
        return x @ x.T / n  # The token covariance, what the forward statistics read.
    u = torch.randn(n, generator=generator, dtype=torch.float64)
    y = torch.randn(m, generator=generator, dtype=torch.float64)
    loss = (x @ u / math.sqrt(n) - y).pow(2).sum() / (2 * m)
    loss.backward()
    return [[float(w.grad.norm()) for w in layer] for layer in weights]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="least time per width")
    parser.add_argument("--forward", action="store_true", help="forward pass only, no autograd")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(1)
    rates = {}
    for n in args.widths:
        samples, start = 0, time.perf_counter()
        while True:
            if args.forward:
                with torch.no_grad():
                    one_sample(args.tokens, n, args.depth, generator, forward_only=True)
            else:
                one_sample(args.tokens, n, args.depth, generator)
            samples += 1
            elapsed = time.perf_counter() - start
            if elapsed >= args.seconds:
                break
        rates[str(n)] = samples * args.depth / elapsed
    print(json.dumps({"layer_samples_per_s": rates, "tokens": args.tokens, "depth": args.depth,
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "forward_only": args.forward}))


if __name__ == "__main__":
    main()
