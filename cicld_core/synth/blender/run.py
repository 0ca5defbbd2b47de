"""Writing a rendered dataset: frames spread over worker processes (each its own Blender
session), a progress bar with frames/s, resumable (a frame whose files are all on disk is
kept and skipped; every file is written atomically, so a frame cut short by a crash or a
kill is rendered again), and the per-class counts for ``synth_info.json``.

bpy is imported only inside the workers (``cycles.py``), so this module loads without it."""
from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...labels import NUM_TRAIN_CLASSES
from .. import write_frame, write_sensors
from ..layouts import frame_files
from ..sensor_files import sensor_paths
from ..sensors import LidarSpec
from .frames import render_frame


# A Blender session grows by about 3 MB a frame (measured over hundreds of 512x256 frames; its
# objects, meshes and images are all freed, the growth is inside Blender): a worker process is
# replaced after this many frames, which costs one Blender start (1 to 2 s).
FRAMES_PER_WORKER = 100


@dataclass(frozen=True)
class Job:
    out: Path
    layout: str
    split: str
    seed: int
    size: tuple[int, int]
    style: str
    version: int
    lidar: LidarSpec | None
    samples: int
    threads: int
    denoise: bool = True


@dataclass
class Summary:
    rendered: int
    skipped: int
    seconds: float
    frames_with: np.ndarray  # (19,) frames in which each class shows, over rendered and kept frames
    pixels: np.ndarray  # (19,) labelled pixels of each class, over the rendered frames

    @property
    def frames_per_s(self) -> float:
        return self.rendered / max(self.seconds, 1e-9)


def frame_done(job: Job, index: int) -> bool:
    paths = frame_files(job.out, job.layout, job.split, index)
    if job.lidar is not None:
        paths += list(sensor_paths(job.out, job.layout, job.split, index).values())
    return all(p.is_file() for p in paths)


_SESSION = None
_JOB: Job | None = None
_START_ERROR: str | None = None


def _start(job: Job) -> None:
    """Worker start: one Blender session for all its frames. A failure is kept and raised by
    the first frame: an exception here would make the pool start worker after worker."""
    global _SESSION, _JOB, _START_ERROR
    _JOB = job
    try:
        from .cycles import RenderSettings, Session  # noqa: PLC0415 - bpy only in the workers

        _SESSION = Session(RenderSettings(samples=job.samples, threads=job.threads, denoise=job.denoise))
        # a pool worker leaves through os._exit, past atexit: multiprocessing's finalizers still
        # run, and remove the session's temporary folder
        multiprocessing.util.Finalize(None, _SESSION.close, exitpriority=10)
    except Exception as error:  # noqa: BLE001 - reported by _render, in the parent
        _START_ERROR = f"{type(error).__name__}: {error}"


def _render(index: int) -> tuple[int, np.ndarray]:
    """Render and write frame ``index``; returns its class pixel counts."""
    if _START_ERROR is not None:
        raise RuntimeError(f"a Blender worker could not start: {_START_ERROR}")
    job = _JOB
    frame = render_frame(_SESSION, job.seed, index, job.size, job.style, job.split, job.version, job.lidar)
    if frame.sensors is not None:  # the sensors first, the image and labels last: the frame is done when they are there
        write_sensors(job.out, job.layout, job.split, index, frame.sensors)
    write_frame(job.out, job.layout, job.split, index, frame)
    return index, np.bincount(frame.train_ids.ravel(), minlength=256)[:NUM_TRAIN_CLASSES]


def kept_counts(job: Job, index: int) -> np.ndarray:
    """Class pixel counts of a frame already on disk, read back from its label file."""
    from ...io import read_label_indices, read_unchanged  # noqa: PLC0415 - only when resuming
    from ...labels import CITYSCAPES_LUT, SYNTHIA_LUT  # noqa: PLC0415

    labels = frame_files(job.out, job.layout, job.split, index)[1]
    if job.layout == "cityscapes":
        train_ids = read_label_indices(labels)
    elif job.layout == "gta5":
        train_ids = np.take(CITYSCAPES_LUT, read_label_indices(labels))
    else:
        train_ids = np.take(SYNTHIA_LUT, read_unchanged(labels)[..., 2].astype(np.int64))
    return np.bincount(train_ids.ravel(), minlength=256)[:NUM_TRAIN_CLASSES]


def render_dataset(job: Job, indices: range, workers: int = 1, progress: bool = True,
                   on_frame: Callable[[int], None] | None = None) -> Summary:
    """Render the frames ``indices`` of ``job`` that are not on disk yet, ``workers`` at a time;
    ``on_frame(index)`` is called as each is written."""
    todo = [i for i in indices if not frame_done(job, i)]
    kept = [i for i in indices if i not in set(todo)]
    frames_with = np.zeros(NUM_TRAIN_CLASSES, np.int64)
    pixels = np.zeros(NUM_TRAIN_CLASSES, np.int64)
    for index in kept:
        frames_with += kept_counts(job, index) > 0
    start = time.perf_counter()
    bar = tqdm(total=len(indices), initial=len(kept), desc=f"blender -> {job.layout}/{job.split}", unit="frame",
               disable=not progress, smoothing=0.1)
    try:
        if len(todo) <= 1 or (workers <= 1 and len(todo) <= FRAMES_PER_WORKER):
            _start(job)
            try:
                for index in todo:
                    _, counts = _render(index)
                    frames_with += counts > 0
                    pixels += counts
                    bar.update()
                    if on_frame:
                        on_frame(index)
            finally:
                if _SESSION is not None:
                    _SESSION.close()
        else:
            # spawn, not fork: each worker starts its own Blender, never a copy of the parent's
            context = multiprocessing.get_context("spawn")
            with context.Pool(max(1, min(workers, len(todo))), initializer=_start, initargs=(job,),
                              maxtasksperchild=FRAMES_PER_WORKER) as pool:
                for index, counts in pool.imap_unordered(_render, todo, chunksize=1):
                    frames_with += counts > 0
                    pixels += counts
                    bar.update()
                    if on_frame:
                        on_frame(index)
                pool.close()  # workers leave on their own and clean up (the with block would terminate them)
                pool.join()
    finally:
        bar.close()
    return Summary(len(todo), len(kept), time.perf_counter() - start, frames_with, pixels)


def default_threads(workers: int) -> int:
    """Cycles threads per worker: the machine's cores shared out."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))
