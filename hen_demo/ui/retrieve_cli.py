"""``python -m hen_demo retrieve --from-link URL``: the Explore retrieval a link describes, from the command line.

The link is read by the same parser the app uses (``hen_demo.export.link.parse_link``: bad values fall back to
the defaults with one printed sentence), and the retrieval runs through the Explore tab's own handler
(``hen_demo.ui.explore_run.retrieve``, unthrottled), so the verdict and the final state are the ones the browser
shows for that link. Writes the still figure (PNG) and, when asked, the GIF and the MP4 (``hen_demo.export``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from hen_demo.export import ExportOptions, RunCaption, export, record_from_replay
from hen_demo.export.link import parse_link
from hen_demo.ui import explore_run, state
from hen_demo.ui.memory_controls import check_n
from hen_demo.ui.resources import Resources

FORMAT_CHOICES = ("png", "gif", "mp4")
SIZE_CHOICES = ("slide", "square")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-link", required=True, metavar="URL",
                        help="a link copied from the app (Explore's 'Copy link'), or just its query string")
    parser.add_argument("--out", default="hen_retrieval", help="folder to write into (default: %(default)s)")
    parser.add_argument("--formats", default="png,gif",
                        help=f"comma-separated, from {', '.join(FORMAT_CHOICES)} (default: %(default)s)")
    parser.add_argument("--size", default="slide", choices=SIZE_CHOICES,
                        help="slide = 1280 × 720, square = 720 × 720 (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=None,
                        help="iterations per second in the GIF / MP4 (default: the link's playback speed, or 4)")


def run_link(link_values: dict, progress=None, res: Resources | None = None) -> dict:
    """Run the Explore retrieval for a parsed link's values; returns the Explore tab's last outputs by name
    (``query``, ``details``, ``frames``, ``verdict``) — the same handler the browser calls."""
    v = link_values
    encoder = v.get("encoder") or state.default_encoder()
    outputs, res = None, Resources() if res is None else res
    for outputs in explore_run.retrieve(
            res, v["dataset"], encoder, v["sim"], "softmax", v["beta"], v["n"], v["steps"], explore_run.DEFAULTS["tol"],
            v["source"], v["index"], None, v.get("caption") or None, state.default_text_encoder(), v["damage"],
            v["amount"], v["seed"], 0, v["mode"], v["fill"], progress=progress or (lambda *a, **k: None)):
        pass
    if outputs is None:
        raise ValueError("The retrieval produced no frames.")
    query, verdict, details, frames = outputs[0], outputs[9], outputs[10], outputs[11]["frames"]
    return {"query": query, "verdict": verdict, "details": details, "frames": frames, "encoder": encoder,
            "n": check_n(v["dataset"], v["n"])}


def run(args) -> int:
    formats = [f.strip().lower() for f in str(args.formats).split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMAT_CHOICES]
    if bad or not formats:
        raise SystemExit(f"--formats takes {', '.join(FORMAT_CHOICES)} (got {args.formats!r}).")
    link = parse_link(args.from_link)
    if link.tab != "explore":
        raise SystemExit(f"This link restores the {link.tab} tab; the command line runs Explore links "
                         "(open it in the app to export it from there).")
    if link.sentence:
        print(link.sentence)
    bar = tqdm(total=100, desc="retrieval", unit="%")

    def progress(fraction, desc=""):
        bar.set_description(desc or "retrieval")
        bar.n = int(100 * float(fraction or 0))
        bar.refresh()

    try:
        out = run_link(link.values, progress)
    except Exception as exc:  # a gr.Error from the handler carries the user's sentence
        raise SystemExit(getattr(exc, "message", None) or str(exc)) from None
    finally:
        bar.close()
    v = link.values
    cap = RunCaption(v["dataset"], out["encoder"], out["n"], similarity=v["sim"],
                     title="HEN Explorer · Explore")
    record = record_from_replay(out["frames"], cap, out["details"], query=out["query"])
    fps = args.fps if args.fps is not None else (v["fps"] if v["fps"] and float(v["fps"]) > 0 else 4.0)
    folder = Path(args.out)
    written = []
    for fmt in formats:
        name = "figure.png" if fmt == "png" else f"retrieval.{fmt}"
        written.append(export(record, folder / name, fmt, ExportOptions(size=args.size, fps=min(25.0, fps))))
    (folder / "details.json").write_text(json.dumps(out["details"], indent=2, default=str), encoding="utf-8")
    print(f"verdict: {out['details'].get('verdict')} · top #{out['details'].get('top_index')} · "
          f"{cap.beta_line()} · N = {record.caption.n:,}")
    for path in written + [folder / "details.json"]:
        print(f"wrote {path}")
    return 0
