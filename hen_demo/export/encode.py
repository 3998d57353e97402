"""Write a recorded retrieval as an animated GIF (Pillow), an MP4 video (imageio + its bundled ffmpeg) or a PNG.

One plan of frames serves both animations: an optional title card, then one frame per streamed iteration
(:class:`hen_demo.export.render.FrameRenderer`), the last one held longer. The GIF gives each frame its own
duration; a video has one frame rate, so the title card and the last frame are repeated to last as long.
Files are written to a temporary name and renamed (nothing half-written is left on disk).

Bounds (:class:`ExportCaps`): frames, pixels per frame and seconds of rendering, checked before any work
(and the time between frames), each refusal a ``ValueError`` with a sentence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from hen_demo.atomic import atomic_write

from .record import RunRecord
from .render import FrameRenderer, figure, frame_size

FORMATS = ("gif", "mp4", "png")
FPS_MIN, FPS_MAX = 0.5, 25.0  # GIF delays are whole centiseconds and browsers slow delays under 20 ms
VIDEO_FPS_MIN = 2.0  # some players stall on slower videos


@dataclass(frozen=True)
class ExportOptions:
    """How an export looks and runs.

    size: "slide" (1280 × 720), "square" (720 × 720) or (width, height) px.
    fps: iterations shown per second (0.5 .. 25).
    title: begin with a title card held ``title_s`` seconds.
    hold_s: how long the final state stays on screen.
    """

    size: object = "slide"
    fps: float = 4.0
    title: bool = True
    title_s: float = 1.5
    hold_s: float = 2.0

    def validate(self) -> None:
        frame_size(self.size)
        try:
            fps = float(self.fps)
        except (TypeError, ValueError):
            raise ValueError(f"The export speed must be a number of frames per second (got {self.fps!r}).") from None
        if not FPS_MIN <= fps <= FPS_MAX:
            raise ValueError(f"The export speed must be {FPS_MIN:g} to {FPS_MAX:g} frames per second (got {fps:g}).")
        for name in ("title_s", "hold_s"):
            v = float(getattr(self, name))
            if not 0 <= v <= 10:
                raise ValueError(f"{name} must be 0 to 10 seconds (got {v:g}).")

    @property
    def frame_ms(self) -> int:
        """One iteration's duration in ms, a whole number of centiseconds (what a GIF can store), >= 20 ms."""
        return max(20, int(round(100.0 / float(self.fps))) * 10)


@dataclass(frozen=True)
class ExportCaps:
    """What one export may cost. ``None`` = no cap."""

    max_frames: int | None = None  # streamed iterations rendered
    max_pixels: int | None = None  # width × height of one frame
    max_seconds: float | None = None  # wall time of rendering + encoding


LOCAL_EXPORT_CAPS = ExportCaps(max_frames=2000, max_pixels=3840 * 2160, max_seconds=None)
# a public server: the app streams at most 60 frames (hen_demo.ui.limits.MAX_STREAM_FRAMES) + the last one;
# one slide frame renders in ~0.1 s on one core, so 61 frames take ~6 s plus encoding
PUBLIC_EXPORT_CAPS = ExportCaps(max_frames=61, max_pixels=1280 * 720, max_seconds=60.0)


def check_export(record: RunRecord, options: ExportOptions, caps: ExportCaps = LOCAL_EXPORT_CAPS) -> None:
    """Refuse (ValueError with a sentence) an export over ``caps`` before rendering anything."""
    options.validate()
    w, h = frame_size(options.size)
    if caps.max_pixels is not None and w * h > caps.max_pixels:
        raise ValueError(f"Exports here are at most {caps.max_pixels:,} pixels a frame (1280 × 720); "
                         f"{w} × {h} was asked. Choose 'slide' or 'square'.")
    if caps.max_frames is not None and len(record.frames) > caps.max_frames:
        raise ValueError(f"This run streamed {len(record.frames)} iterations; exports here hold at most "
                         f"{caps.max_frames}. Run fewer steps T, or export on your own machine.")


def durations_ms(record: RunRecord, options: ExportOptions) -> list[int]:
    """Each planned frame's duration (ms): [title card], one per iteration, the last held ``hold_s``."""
    per = options.frame_ms
    out = [per] * len(record.frames)
    out[-1] = max(per, _centis(options.hold_s * 1000))
    if options.title:
        out.insert(0, max(per, _centis(options.title_s * 1000)))
    return out


def _centis(ms: float) -> int:
    return int(round(ms / 10.0)) * 10


def render_frames(record: RunRecord, options: ExportOptions, caps: ExportCaps = LOCAL_EXPORT_CAPS,
                  progress: Callable[[float, str], None] | None = None) -> list[np.ndarray]:
    """The planned frames (title card first when asked), each (H, W, 3) uint8, with progress and the time cap."""
    check_export(record, options, caps)
    t0 = time.perf_counter()
    renderer = FrameRenderer(record, options.size)
    total = len(record.frames) + int(options.title)
    out = [renderer.title_card()] if options.title else []
    for i in range(len(record.frames)):
        if caps.max_seconds is not None and time.perf_counter() - t0 > caps.max_seconds:
            raise ValueError(f"Rendering stopped after {caps.max_seconds:g} s (the public limit) at frame "
                             f"{len(out)} of {total}. Choose 'square', or run fewer steps T.")
        out.append(renderer.render(i))
        if progress is not None:
            progress(len(out) / total, f"drawing frame {len(out)} of {total}")
    return out


def write_gif(frames: list[np.ndarray], durations: list[int], path: str | Path) -> Path:
    """An animated GIF that loops forever; frame i lasts ``durations[i]`` ms (its own palette per frame)."""
    if len(frames) != len(durations):
        raise ValueError("One duration per frame is needed.")
    # one palette per frame by fast octree quantisation: 4x faster than Pillow's default median cut on a slide
    # (0.5 s vs 1.9 s for 11 frames, measured), mean error about 1 grey level; no dithering (crisp pixels)
    images = [Image.fromarray(f).quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
              for f in frames]

    def write(tmp: str) -> None:
        # optimize=False: Pillow would otherwise fold identical neighbouring frames into one
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=list(durations),
                       loop=0, optimize=False, disposal=1)

    return atomic_write(path, write)


def video_repeats(durations: list[int], fps: float) -> list[int]:
    """How many video frames (at ``fps``) each planned frame becomes: its duration, at least one frame."""
    return [max(1, int(round(d * float(fps) / 1000.0))) for d in durations]


def write_video(frames: list[np.ndarray], durations: list[int], path: str | Path, fps: float) -> Path:
    """An H.264 MP4 (yuv420p: plays in every browser) at ``fps``; frames repeated to keep their durations.

    Uses imageio's ffmpeg plugin with the ffmpeg binary that the imageio-ffmpeg wheel bundles.
    """
    import imageio.v2 as imageio  # imported here only: 0.37 s measured (python -X importtime), videos only

    h, w = frames[0].shape[:2]
    if w % 2 or h % 2:
        raise ValueError(f"A video frame needs an even width and height; got {w} × {h}.")
    fps = float(fps)

    def write(tmp: str) -> None:
        writer = imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                    pixelformat="yuv420p", macro_block_size=2, quality=8,
                                    output_params=["-movflags", "+faststart"])
        try:
            for frame, k in zip(frames, video_repeats(durations, fps)):
                for _ in range(k):
                    writer.append_data(frame)
        finally:
            writer.close()

    return atomic_write(path, write)  # the temporary file keeps the suffix: ffmpeg picks the container from it


def write_png(image: np.ndarray, path: str | Path) -> Path:
    return atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))


def export(record: RunRecord, path: str | Path, fmt: str | None = None, options: ExportOptions | None = None,
           caps: ExportCaps = LOCAL_EXPORT_CAPS, progress: Callable[[float, str], None] | None = None) -> Path:
    """Render ``record`` and write it to ``path`` as "gif", "mp4" or "png" (the final frame, no title card).

    The format defaults to the path's suffix. Returns the path written.
    """
    options = options or ExportOptions()
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"Export as one of {', '.join(FORMATS)} (got '{fmt}').")
    if fmt == "png":
        still = ExportOptions(size=options.size, fps=options.fps, title=False)
        check_export(record, still, caps)
        return write_png(figure(record, options.size), path)
    frames = render_frames(record, options, caps, progress)
    durations = durations_ms(record, options)
    if fmt == "gif":
        return write_gif(frames, durations, path)
    return write_video(frames, durations, path, fps=video_fps(options))


def video_fps(options: ExportOptions) -> float:
    """The video's frame rate: the iteration rate, at least 2 frames / s (slower iterations repeat frames)."""
    return max(VIDEO_FPS_MIN, float(options.fps))
