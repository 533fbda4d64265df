"""Batch-1 network overhead: one denoising pass of one character (the whole sampler call, conditions encoded) under
each way of running the network, with its output's largest difference from plain fp32.

    .venv/bin/python -m sim.benchmarks.bench_batch1 [--model default] [--threads 1] [--repeats 300] [--group eager]

Variants: no_grad or inference_mode; fp32 or bf16 autocast; the network traced (torch.jit.trace) or compiled
(torch.compile, inductor: needs a C compiler, no network). Prints the median ms per pass, timed in interleaved
rounds (a shared machine's load then hits every variant alike). A real condition: a
character's second segment on a course. Each --group (eager, trace, compile) runs best in a process of its own
(tracing and compiling change how the eager network times in the same process); every group also times the
eager fp32 no_grad and bf16 inference_mode passes as references.
"""

import argparse
import statistics
import time
from contextlib import nullcontext

import torch

from controller.config import ControllerConfig
from controller.path_controller import PathController
from motion_model.learner.checkpoint import load_model
from motion_model.learner.ddim import sample
from terrain.generators import make_terrain


def real_condition(model):
    controller = PathController(model, make_terrain("course", seed=0, length=20.0), config=ControllerConfig())
    controller.step()
    cond, _ = controller.condition()
    return cond


def median_ms(runs, repeats, rounds=10):
    """Median ms of each run, timed in interleaved rounds so that a shared machine's load hits all alike."""
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            for _ in range(max(1, repeats // rounds)):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def variants(model, cond, group):
    """(name, network, grad context, autocast dtype or None) of a group."""
    net = model.network
    out = [
        ("fp32 no_grad", net, torch.no_grad, None),
        ("bf16 inference_mode", net, torch.inference_mode, torch.bfloat16),
    ]
    if group == "eager":
        out += [
            ("fp32 inference_mode", net, torch.inference_mode, None),
            ("bf16 no_grad", net, torch.no_grad, torch.bfloat16),
        ]
        return out
    x = torch.randn(1, model.window.frames, net.config.features)
    t = torch.full((1,), 999, dtype=torch.long)
    full = dict(cond)
    with torch.no_grad():
        full["cond_tokens"] = net.encode_conditions(cond, 1)
    if group == "trace":
        try:
            with torch.no_grad():
                traced = torch.jit.freeze(torch.jit.trace(net.eval(), (x, t, full), strict=False))
            out.append(("fp32 jit.trace+freeze", _Wrapped(traced, net), torch.no_grad, None))
        except Exception as error:  # reported, not fatal: the point is to measure what works
            print(f"jit.trace failed: {type(error).__name__}: {str(error)[:200]}")
        return out
    try:
        compiled = torch.compile(net, dynamic=False)
        out.append(("fp32 torch.compile", _Wrapped(compiled, net), torch.inference_mode, None))
        out.append(("bf16 torch.compile", _Wrapped(compiled, net), torch.inference_mode, torch.bfloat16))
    except Exception as error:
        print(f"torch.compile failed: {type(error).__name__}: {str(error)[:200]}")
    return out


class _Wrapped(torch.nn.Module):
    """A traced or compiled forward with the original network's encode_conditions and config (for sample())."""

    def __init__(self, forward, network):
        super().__init__()
        self.fn, self.network, self.config = forward, network, network.config

    def encode_conditions(self, cond, batch):
        return self.network.encode_conditions(cond, batch)

    def forward(self, x_t, t, cond):
        return self.fn(x_t, t, cond)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--group", choices=("eager", "trace", "compile"), default="eager")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    cond = real_condition(model)
    shape = (1, model.window.frames, model.network.config.features)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    runs, diffs, reference = {}, {}, None
    for name, net, grad, dtype in variants(model, cond, args.group):

        def run(net=net, grad=grad, dtype=dtype):
            amp = torch.autocast("cpu", dtype=dtype) if dtype is not None else nullcontext()
            with grad(), amp:
                return sample(net, cond, model.schedule, 1, noise=noise).float()

        try:
            for _ in range(3):  # warm-up (and compilation)
                result = run()
        except Exception as error:
            print(f"{name:<24} failed: {type(error).__name__}: {str(error)[:160]}")
            continue
        reference = result if reference is None else reference
        runs[name], diffs[name] = run, float((result - reference).abs().max())
    print(f"{'variant':<24}{'ms/pass':>10}{'max |diff| vs fp32':>22}")
    for name, ms in median_ms(runs, args.repeats).items():
        print(f"{name:<24}{ms:>10.2f}{diffs[name]:>22.2e}")


if __name__ == "__main__":
    main()
