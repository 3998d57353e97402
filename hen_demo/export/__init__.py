"""hen_demo.export: a retrieval taken out of the app — GIF, MP4, a PNG figure, and a link that restores it.

```python
from hen_demo.export import RunCaption, record_from_frames, export, ExportOptions
frames = list(pipe.stream(query, RunOptions(steps=60), target=25))          # hen_demo.pipeline.HENFrame
rec = record_from_frames(frames, RunCaption("emoji", "kl-small", n=1000), query=query_image)
export(rec, "run.gif", options=ExportOptions(size="slide", fps=4))        # also "run.mp4", "figure.png"
```
Pure of Gradio: the UI (``hen_demo.ui.export_panel``), the CLI (``python -m hen_demo retrieve``) and the tests
call it.
"""

from .encode import (
    FORMATS,
    LOCAL_EXPORT_CAPS,
    PUBLIC_EXPORT_CAPS,
    ExportCaps,
    ExportOptions,
    check_export,
    durations_ms,
    export,
    render_frames,
    video_fps,
    video_repeats,
    write_gif,
    write_png,
    write_video,
)
from .record import FrameRecord, RunCaption, RunRecord, record_from_frames, record_from_replay
from .render import SIZES, FrameRenderer, Layout, figure, frame_size, layout_for, panel_pixels

__all__ = ["FORMATS", "LOCAL_EXPORT_CAPS", "PUBLIC_EXPORT_CAPS", "ExportCaps", "ExportOptions", "check_export",
           "durations_ms", "export", "render_frames", "video_fps", "video_repeats", "write_gif", "write_png",
           "write_video", "FrameRecord", "RunCaption", "RunRecord", "record_from_frames", "record_from_replay",
           "SIZES", "FrameRenderer", "Layout", "figure", "frame_size", "layout_for", "panel_pixels"]
