"""Where the experiments get their data and encoders: the same public API the app uses
(``list_image_encoders`` / ``get_image_encoder`` / ``build_bank`` / ``load_dataset``), plus the notes saying
which offline stand-in played which of the papers' models and datasets."""

from __future__ import annotations

from hen_demo.data import list_datasets
from hen_demo.encoders import list_image_encoders
from hen_demo.experiments.base import stand_in_note

# the offline image encoders, in the order the papers list their counterparts (raw image first)
OFFLINE_IMAGE_ENCODERS = ("pixels", "vq-small", "kl-small", "dvae-small")
# our occlusion-trained extension (not in the papers): run by default beside them whenever its weights ship
EXTENSION_IMAGE_ENCODERS = ("robust-small",)
PAPER_IMAGE_ENCODERS = ("dvae", "vq-f8", "vq-f16", "kl-f8", "kl-f16")


def resolve_encoders(names: list[str] | tuple[str, ...] | None, include_pretrained: bool = True):
    """Available image encoders among ``names`` (default: pixels + shipped + the papers' when reachable).

    Returns (names to run, notes): unavailable ones are skipped and the note says why.
    """
    infos = {i.name: i for i in list_image_encoders()}
    wanted = list(names) if names else list(OFFLINE_IMAGE_ENCODERS) + [
        e for e in EXTENSION_IMAGE_ENCODERS if e in infos and infos[e].available] + (
        list(PAPER_IMAGE_ENCODERS) if include_pretrained else [])
    run, notes = [], []
    for name in wanted:
        info = infos.get(name)
        if info is None:
            raise ValueError(f"unknown image encoder {name!r}; known: {', '.join(infos)}.")
        if info.available:
            run.append(name)
        elif names or name in OFFLINE_IMAGE_ENCODERS:  # silently skip the papers' models offline
            notes.append(f"encoder `{name}` skipped: {info.reason}")
    if not run:
        raise ValueError("none of the requested encoders is available here: " + "; ".join(notes))
    return run, notes


def check_dataset(name: str, n: int) -> int:
    """Largest usable n <= requested for ``name`` (raises ValueError when the dataset is unavailable)."""
    infos = {i.name: i for i in list_datasets()}
    base = name.split(":")[0]
    info = infos.get(name) or infos.get(base)
    if info is not None and not info.available:
        raise ValueError(f"dataset {name!r} is not available here: {info.reason}")
    if info is not None and info.size is not None:
        return min(int(n), int(info.size))
    return int(n)


def notes_for(dataset: str, encoders: list[str], extra: list[str] | None = None) -> list[str]:
    """Stand-in notes for a dataset and encoders."""
    notes = [stand_in_note("dataset", dataset)] + [stand_in_note("encoder", e) for e in encoders]
    return notes + list(extra or [])


def sub_progress(progress, start: float, stop: float):
    """Map a child's progress fraction in [0, 1] onto [start, stop] of the parent's."""
    if progress is None:
        return None
    return lambda f, desc="": progress(start + (stop - start) * float(f), desc)
