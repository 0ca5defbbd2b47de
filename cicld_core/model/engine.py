"""A segmentation engine for a stream of frames: what the node runs per batch.

``segment()`` is the reference and the engine computes exactly its masks (bit-identical
on the CPU, tested), but everything that does not change from one frame to the next is
prepared once per input shape: the denoising plan, the noise for a fixed seed, device
buffers for input and output, optionally ``torch.compile``'d stages and, on CUDA, one CUDA
graph per stage (first pass / K denoising steps / decoder), so a batch costs three graph
launches instead of hundreds of kernel launches issued from Python.

On CUDA, frames travel through pinned host buffers: ``submit`` copies a batch in, starts
the upload on a copy stream and the compute on the current stream, and returns at once;
``result()`` waits. Two slots alternate, so the upload of the next batch overlaps the
compute of this one. On the CPU ``submit`` computes before it returns.

Compilation or graph capture that fails falls back to eager execution with a warning: a
slower engine, never a stopped one.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .inference import MIN_IMAGE_SIZE, FirstPass, autocast, finish, first_pass, normalise, pad_to_multiple
from .options import SamplingOptions
from .sampling import plan_for

COMPILE_MODES = ("off", "default", "max-autotune-no-cudagraphs")
STAGES = ("encoder", "denoise", "decoder")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineOptions:
    """One SamplingOptions, carried whole (segment()'s fields, defaults and check), and how the engine runs it."""
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    channels_last: bool = False
    compile: str = "off"  # torch.compile mode for each stage, or "off"
    compile_backend: str | Callable = "inductor"  # torch.compile backend (a name, or a callable for debugging)
    cuda_graphs: bool = True  # capture the stages in CUDA graphs (CUDA only, DDIM only)
    with_confidence: bool = False
    max_shapes: int = 4  # input shapes kept prepared at once (each holds its buffers and graphs)

    def problems(self, num_train_timesteps: int | None = None) -> list[str]:
        """SamplingOptions.problems, then the engine's own."""
        problems = self.sampling.problems(num_train_timesteps)
        if self.compile not in COMPILE_MODES:
            problems.append(f"compile must be one of {COMPILE_MODES}, got {self.compile!r}")
        if not isinstance(self.max_shapes, int) or self.max_shapes < 1:
            problems.append(f"max_shapes must be at least 1, got {self.max_shapes!r}")
        return problems

    def validate(self, num_train_timesteps: int | None = None) -> "EngineOptions":
        """These options, or ValueError naming every invalid one."""
        problems = self.problems(num_train_timesteps)
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass
class EngineResult:
    train_ids: np.ndarray  # (B, H, W) uint8
    confidence: np.ndarray | None = None  # (B, H, W) float32
    uncertainty: np.ndarray | None = None  # (B, H, W) float32
    stage_ms: dict[str, float] = field(default_factory=dict)  # encoder / denoise / decoder, when profiled


class _Shape:
    """Buffers, stage functions and graphs for one (B, H, W) input."""

    def __init__(self, engine: "SegmentationEngine", batch: int, height: int, width: int) -> None:
        self.engine, self.size = engine, (height, width)
        device = engine.device
        self.frames = torch.zeros(batch, height, width, 3, dtype=torch.uint8, device=device)
        self.noise: torch.Tensor | None = None
        self.stages: list[Callable[[], None]] = [self._encoder, self._denoise, self._decoder]
        self.graphs: list[torch.cuda.CUDAGraph] | None = None
        self.state: dict[str, object] = {}
        self.cuda = device.type == "cuda"
        if self.cuda:
            # two alternating slots of pinned host memory: one uploads while the other computes
            self.slots = [_Slot(self, batch, height, width) for _ in range(2)]
            self.next_slot = 0

    # -- the three stages; each reads self.state and writes its outputs back -------------------
    def _encoder(self) -> None:
        engine = self.engine
        with engine.autocast():
            images = normalise(self.frames, engine.mean, engine.std)
            if engine.options.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            padded = pad_to_multiple(images, engine.model.config.size_multiple)
            self.state["first"] = engine.first_pass(padded, self._draw_noise)
            self.state["padded_size"] = tuple(padded.shape[-2:])

    def _denoise(self) -> None:
        first: FirstPass = self.state["first"]
        engine = self.engine
        if engine.plan is None:
            return
        with engine.autocast():
            self.state["latent"] = engine.denoise(first.latent, first.tokens)

    def _decoder(self) -> None:
        first: FirstPass = self.state["first"]
        engine = self.engine
        with engine.autocast():
            logits = first.logits if engine.plan is None else engine.decode(self.state["latent"], first.skips)
        result = finish(logits, self.state["padded_size"], self.size, engine.samples,
                        with_confidence=engine.options.with_confidence)
        self.state["outputs"] = {name: value for name, value in
                                 (("train_ids", result.train_ids), ("confidence", result.confidence),
                                  ("uncertainty", result.uncertainty)) if value is not None}

    def _draw_noise(self, shape: torch.Size) -> torch.Tensor:
        # segment() reseeds per call, so a fixed seed means the same noise for every frame
        if self.noise is None:
            seed = self.engine.options.sampling.seed
            generator = torch.Generator(device=self.engine.device).manual_seed(seed) if seed is not None else None
            self.noise = torch.randn(shape, generator=generator, device=self.engine.device, dtype=torch.float32)
        return self.noise

    # -- running ---------------------------------------------------------------------------------
    def run(self, profile: bool) -> dict[str, float]:
        if self.noise is not None and self.engine.options.sampling.seed is None:
            self.noise.normal_()  # fresh noise per batch, outside any graph
        times: dict[str, float] = {}
        if profile and self.cuda:
            events = [torch.cuda.Event(enable_timing=True) for _ in range(len(STAGES) + 1)]
            events[0].record()
        for index, stage in enumerate(self.stages):
            start = time.perf_counter()
            if self.graphs is not None:
                self.graphs[index].replay()
            else:
                stage()
            if profile and self.cuda:
                events[index + 1].record()
            elif profile:
                times[STAGES[index]] = (time.perf_counter() - start) * 1000
        if profile and self.cuda:
            events[-1].synchronize()
            times = {name: events[i].elapsed_time(events[i + 1]) for i, name in enumerate(STAGES)}
        return times

    def capture(self) -> None:
        """Record the stages in CUDA graphs (after a warm-up on a side stream, as PyTorch requires)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                for stage in self.stages:
                    stage()
        torch.cuda.current_stream().wait_stream(side)
        graphs, pool = [], None
        for stage in self.stages:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                stage()
            pool = graph.pool()
            graphs.append(graph)
        self.graphs = graphs


class _Slot:
    """Pinned host buffers for one batch in flight, and the events that guard them."""

    def __init__(self, shape: _Shape, batch: int, height: int, width: int) -> None:
        self.host_frames = torch.empty(batch, height, width, 3, dtype=torch.uint8).pin_memory()
        self.device_frames = torch.empty_like(self.host_frames, device=shape.engine.device)
        self.uploaded, self.consumed, self.done = (torch.cuda.Event() for _ in range(3))
        self.host_outputs: dict[str, torch.Tensor] = {}
        self.pending: PendingResult | None = None


class PendingResult:
    """A submitted batch; ``result()`` waits for it (once) and returns host arrays."""

    def __init__(self, slot: _Slot | None, result: EngineResult | None = None,
                 profile_times: Callable[[], dict[str, float]] | None = None) -> None:
        self._slot, self._result, self._profile_times = slot, result, profile_times
        self._lock = threading.Lock()  # the publishing thread and a later submit() may both collect it

    def result(self) -> EngineResult:
        with self._lock:
            return self._collect()

    def _collect(self) -> EngineResult:
        if self._result is None:
            slot = self._slot
            slot.done.synchronize()
            outputs = {name: tensor.numpy().copy() for name, tensor in slot.host_outputs.items()}
            self._result = EngineResult(**outputs, stage_ms=self._profile_times() if self._profile_times else {})
            if slot.pending is self:  # a later batch may already own the slot
                slot.pending = None
            self._slot = None
        return self._result


class SegmentationEngine:
    """Segments uint8 RGB batches (B, H, W, 3) with fixed options; see the module docstring.

    The model is used as it is: move it to the device (and to channels-last, when that
    option is on) first.
    """

    def __init__(self, model, options: EngineOptions, logger: logging.Logger | None = None) -> None:
        self.model, self.options, self.log = model, options.validate(model.config.num_train_timesteps), logger or log
        self.device = next(model.parameters()).device
        sampling = options.sampling
        self.dtype = sampling.torch_dtype
        config = model.config
        self.mean = torch.tensor(config.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(config.std, device=self.device).view(1, 3, 1, 1)
        self.samples = sampling.noise_samples
        self.plan = plan_for(model, sampling, self.device)
        self._shapes: OrderedDict[tuple[int, int, int], _Shape] = OrderedDict()
        self.use_graphs = options.cuda_graphs and self.device.type == "cuda"
        if self.use_graphs and self.plan is not None and not self.plan.graph_safe:
            self.log.info(f"sampler {sampling.sampler!r} is multistep: running without CUDA graphs (use ddim for them)")
            self.use_graphs = False
        self.compiled = False
        self._eager_stages = (self._first_pass, self._denoise, self._decode)
        self.first_pass, self.denoise, self.decode = self._eager_stages
        if options.compile != "off":
            try:
                # dynamic=False: each stage sees one fixed shape per prepared input size
                mode = None if options.compile == "default" or options.compile_backend != "inductor" \
                    else options.compile
                self.first_pass, self.denoise, self.decode = (
                    torch.compile(fn, mode=mode, backend=options.compile_backend, dynamic=False)
                    for fn in self._eager_stages)
                self.compiled = True
            except Exception as error:  # noqa: BLE001 - e.g. an unknown backend: run eagerly
                self._compile_failed(error)

    def autocast(self):
        # CUDA graphs must not capture autocast's weight-cast cache: it is freed when the context exits
        return autocast(self.device, self.dtype, cache_enabled=False)

    # -- the model pieces each stage runs -----------------------------------------------------------
    def _first_pass(self, padded: torch.Tensor, draw_noise) -> FirstPass:
        return first_pass(self.model, padded, self.samples, self.plan, draw_noise)

    def _denoise(self, latent: torch.Tensor, tokens: torch.Tensor | None) -> torch.Tensor:
        return self.plan.run(self.model, latent, tokens)

    def _decode(self, latent: torch.Tensor, skips: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.model.decode(latent, skips)

    # -- public ------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, frames: np.ndarray, profile: bool = False) -> EngineResult:
        return self.submit(frames, profile).result()

    @torch.no_grad()
    def submit(self, frames: np.ndarray | list[np.ndarray], profile: bool = False) -> PendingResult:
        """Start segmenting a batch of equal-size RGB uint8 frames, (B, H, W, 3) or a list of (H, W, 3)."""
        frames = check_frames(frames)
        shape = self._prepare(*frames.shape[:3])
        if not shape.cuda:
            shape.frames.copy_(torch.from_numpy(frames))
            times = shape.run(profile)
            outputs = {name: tensor.numpy().copy() for name, tensor in shape.state["outputs"].items()}
            return PendingResult(None, EngineResult(**outputs, stage_ms=times))
        return self._submit_cuda(shape, frames, profile)

    def _submit_cuda(self, shape: _Shape, frames: np.ndarray, profile: bool) -> PendingResult:
        slot = shape.slots[shape.next_slot]
        shape.next_slot ^= 1
        if slot.pending is not None:  # its host outputs are about to be reused: collect them first
            slot.pending.result()
        slot.uploaded.synchronize()  # the pinned input is free once its last upload finished
        slot.host_frames.numpy()[...] = frames
        compute = torch.cuda.current_stream()
        copy = self.copy_stream
        with torch.cuda.stream(copy):
            copy.wait_event(slot.consumed)
            slot.device_frames.copy_(slot.host_frames, non_blocking=True)
            slot.uploaded.record(copy)
        compute.wait_event(slot.uploaded)
        shape.frames.copy_(slot.device_frames)
        slot.consumed.record(compute)
        times = shape.run(profile)
        outputs = shape.state["outputs"]
        if not slot.host_outputs:
            slot.host_outputs = {name: torch.empty(t.shape, dtype=t.dtype).pin_memory() for name, t in outputs.items()}
        for name, tensor in outputs.items():
            slot.host_outputs[name].copy_(tensor, non_blocking=True)
        slot.done.record(compute)
        slot.pending = PendingResult(slot, profile_times=lambda: times)
        return slot.pending

    @property
    def copy_stream(self) -> torch.cuda.Stream:
        if not hasattr(self, "_copy_stream"):
            self._copy_stream = torch.cuda.Stream(self.device)
        return self._copy_stream

    def _prepare(self, batch: int, height: int, width: int) -> _Shape:
        key = (batch, height, width)
        if key in self._shapes:
            self._shapes.move_to_end(key)
            return self._shapes[key]
        while len(self._shapes) >= self.options.max_shapes:
            self._shapes.popitem(last=False)
        shape = _Shape(self, batch, height, width)
        self._warm_up(shape)
        self._shapes[key] = shape
        return shape

    def _warm_up(self, shape: _Shape) -> None:
        """Run the stages once (compiling them if asked) and capture graphs; fall back on failure."""
        try:
            shape.run(profile=False)
        except Exception as error:  # noqa: BLE001 - a failed compilation must not stop segmentation
            if not self.compiled:
                raise
            self._compile_failed(error)
            shape.state.clear()
            shape.run(profile=False)
        if self.use_graphs:
            try:
                shape.capture()
            except Exception as error:  # noqa: BLE001
                self.log.warning(f"CUDA graph capture failed ({type(error).__name__}: {error}); "
                                 "running without graphs")
                self.use_graphs = False
                shape.graphs = None

    def _compile_failed(self, error: Exception) -> None:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        self.log.warning(f"torch.compile failed ({type(error).__name__}: {first_line}); running eagerly")
        self.first_pass, self.denoise, self.decode = self._eager_stages
        self.compiled = False

    def describe(self) -> str:
        o, s = self.options, self.options.sampling
        return (f"K={s.steps} strength={s.strength} {s.sampler} {s.dtype}"
                f"{' channels_last' if o.channels_last else ''} compile={o.compile if self.compiled else 'off'} "
                f"cuda_graphs={'on' if self.use_graphs else 'off'} on {self.device}")


def check_frames(frames: np.ndarray | list[np.ndarray]) -> np.ndarray:
    array = np.stack(frames) if isinstance(frames, (list, tuple)) else np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8 or array.shape[0] == 0:
        raise ValueError(f"expected RGB uint8 frames (B, H, W, 3), got {array.dtype} of shape {array.shape}")
    if min(array.shape[1:3]) < MIN_IMAGE_SIZE:
        raise ValueError(f"frames must be at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels, "
                         f"got {array.shape[2]}x{array.shape[1]}")
    return np.ascontiguousarray(array)
