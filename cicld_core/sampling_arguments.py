"""The sampling options on a command line: the same flags, defaults and checks in every command.

    add_sampling_arguments(parser)
    args = parser.parse_args(argv)
    options = sampling_from_args(parser, args)   # a SamplingOptions
"""
from __future__ import annotations

import argparse

from .model import DTYPES, MAX_TRAIN_TIMESTEPS, SAMPLER_NAMES, SamplingOptions


def add_sampling_arguments(parser: argparse.ArgumentParser, sampler: bool = True, samples: bool = True,
                           seed: bool = True, dtype: bool = True) -> None:
    """--steps, --strength and, unless turned off, --sampler, --samples, --seed and --dtype, with
    SamplingOptions' defaults; ``sampling_from_args`` reads them back and checks them with
    SamplingOptions.problems, so every command words a bad value the same way."""
    defaults = SamplingOptions()
    parser.add_argument("--steps", type=int, default=defaults.steps, metavar="K",
                        help=f"denoising steps K; 0 = the plain encoder-decoder path (default {defaults.steps})")
    parser.add_argument("--strength", type=float, default=defaults.strength, metavar="S",
                        help=f"noise level the denoising starts from, (0, 1] (default {defaults.strength})")
    if sampler:
        parser.add_argument("--sampler", choices=sorted(SAMPLER_NAMES), default=defaults.sampler,
                            help=f"few-step sampler (default {defaults.sampler})")
    if samples:
        parser.add_argument("--samples", type=int, default=defaults.num_samples, metavar="N",
                            help="noise samples per image; above 1 adds uncertainty maps (default 1)")
    if seed:
        parser.add_argument("--seed", type=int, default=defaults.seed,
                            help=f"noise seed, the same for every image (default {defaults.seed})")
    if dtype:
        parser.add_argument("--dtype", choices=list(DTYPES), default=defaults.dtype,
                            help=f"compute precision (default {defaults.dtype})")


def sampling_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> SamplingOptions:
    """The options ``add_sampling_arguments`` added, checked as far as they can be before a model is
    loaded (steps / strength against the largest T; check again with the model's own T)."""
    names = {"steps": "steps", "strength": "strength", "sampler": "sampler", "samples": "num_samples",
             "seed": "seed", "dtype": "dtype"}
    values = {field: getattr(args, name) for name, field in names.items() if hasattr(args, name)}
    options = SamplingOptions(**values)
    problems = options.problems(MAX_TRAIN_TIMESTEPS)
    if problems:
        parser.error("; ".join(problems).replace("num_samples", "--samples"))
    return options
