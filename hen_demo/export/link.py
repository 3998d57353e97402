"""A link that restores a setup: the controls of Explore, Compare or Text → Image in a URL's query string.

``?tab=explore&dataset=emoji&encoder=kl-small&sim=l2&beta=1&mode=relative&n=1000&damage=mask-random&amount=0.4``
``&fill=black&seed=0&index=25&steps=60&fps=5`` — every key is optional. :func:`parse_link` reads a URL (or its
query string, or a mapping of parameters) into a :class:`Link`: each value is checked on its own, and a value
that is not valid here (a dataset this machine lacks, β = "abc", N = -5, an unknown key) is replaced by the
tab's default and named in one sentence (:attr:`Link.sentence`), never an error. :func:`link_query` writes the
query string back. Pure: the app (``hen_demo.ui.share``) and the command line (``python -m hen_demo retrieve
--from-link URL``) share it, so a link in a message reproduces the same retrieval in both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from hen_demo.data import list_datasets
from hen_demo.data.corruptions import CORRUPTIONS, FILLS
from hen_demo.encoders import list_image_encoders, list_text_encoders

TABS = ("explore", "compare", "text2image")
BETA_MODES = ("relative", "absolute")
SEED_MAX = 2**32 - 1
MAX_CAPTION = 300  # characters of a caption carried in a link
MAX_QUERY = 4000  # characters of a whole query string read (a longer one is cut there)

# key -> the words a sentence uses for it
LABELS = {"tab": "tab", "dataset": "dataset", "encoder": "encoder", "sim": "similarity", "beta": "β",
          "mode": "β mode", "n": "N", "steps": "steps T", "source": "query source", "index": "memory #",
          "caption": "caption", "damage": "damage", "amount": "damage amount", "fill": "fill", "seed": "seed",
          "fps": "playback speed", "encoder_b": "encoder B", "sim_b": "similarity B", "beta_b": "β B",
          "mode_b": "β mode B", "text_encoder": "text encoder", "present": "presenter mode"}

# the Explore tab's defaults (hen_demo.ui.explore.DEFAULTS and its controls; a test keeps them equal)
EXPLORE_DEFAULTS = {"dataset": "emoji", "encoder": None, "sim": "l2", "beta": 1.0, "mode": "relative", "n": 1000,
                    "steps": 60, "source": "stored memory", "index": 25, "caption": "", "damage": "mask-random",
                    "amount": 0.4, "fill": "black", "seed": 0, "fps": 5.0}
TAB_KEYS = {
    "explore": tuple(EXPLORE_DEFAULTS),
    "compare": ("dataset", "n", "steps", "index", "damage", "amount", "fill", "seed", "encoder", "sim", "beta",
                "mode", "encoder_b", "sim_b", "beta_b", "mode_b"),
    "text2image": ("dataset", "encoder", "sim", "beta", "mode", "n", "steps", "caption", "text_encoder"),
}


@dataclass
class Choices:
    """The names valid on this machine (datasets, encoders, ...); ``None`` = read them from the registries."""

    datasets: tuple[str, ...] | None = None
    encoders: tuple[str, ...] | None = None
    text_encoders: tuple[str, ...] | None = None
    similarities: tuple[str, ...] = ("l2", "dot", "cosine", "manhattan", "mask-aware")
    sources: tuple[str, ...] = ("stored memory", "caption")  # an upload cannot travel in a link

    def resolved(self) -> Choices:
        """These choices with the missing lists read from the dataset and encoder registries (available only)."""
        return Choices(
            datasets=self.datasets or tuple(i.name for i in list_datasets() if i.available),
            encoders=self.encoders or tuple(i.name for i in list_image_encoders() if i.available),
            text_encoders=self.text_encoders or tuple(i.name for i in list_text_encoders() if i.available),
            similarities=self.similarities, sources=self.sources)


@dataclass
class Link:
    """A parsed link: the tab it restores, every value of that tab (defaults where the link had none or a bad
    one), the keys the link set validly, and what was refused."""

    tab: str
    values: dict
    given: set = field(default_factory=set)  # keys whose value came from the link
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (key, raw value, why)
    present: bool = False  # presenter mode (?present=1)

    @property
    def sentence(self) -> str:
        """One sentence naming the values that fell back to defaults ("" when every value was used)."""
        if not self.refused:
            return ""
        parts = [f"{LABELS.get(k, k)} '{_short(raw)}' ({why})" for k, raw, why in self.refused]
        return ("Some values in this link cannot be used here and fall back to their defaults: "
                + "; ".join(parts) + ".")


def _short(raw: str, limit: int = 40) -> str:
    raw = str(raw)
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


# ---- one checker per kind of value: raw string -> value, or ValueError(why) -----------------------------
def _number(raw: str, lo: float, hi: float, whole: bool = False, open_low: bool = False):
    try:
        v = float(raw)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(v):
        raise ValueError("not a finite number")
    if whole and v != int(v):
        raise ValueError("not a whole number")
    if v < lo or v > hi or (open_low and v <= lo):
        raise ValueError(f"outside {_fmt(lo)} to {_fmt(hi)}" if not open_low
                         else f"must be above {_fmt(lo)} and at most {_fmt(hi)}")
    return int(v) if whole else v


def _fmt(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _choice(options) -> Callable[[str], str]:
    def check(raw: str) -> str:
        if raw not in options:
            raise ValueError("not available here")
        return raw

    return check


def _caption(raw: str) -> str:
    text = " ".join(str(raw).split())
    if len(text) > MAX_CAPTION:
        raise ValueError(f"longer than {MAX_CAPTION} characters")
    return text


def checkers(choices: Choices) -> dict[str, Callable[[str], object]]:
    """key -> its checker, for the names valid on this machine."""
    return {
        "dataset": _choice(choices.datasets), "encoder": _choice(choices.encoders),
        "encoder_b": _choice(choices.encoders), "text_encoder": _choice(choices.text_encoders),
        "sim": _choice(choices.similarities), "sim_b": _choice(choices.similarities),
        "beta": lambda r: _number(r, 0.0, 1e6, open_low=True), "beta_b": lambda r: _number(r, 0.0, 1e6, open_low=True),
        "mode": _choice(BETA_MODES), "mode_b": _choice(BETA_MODES),
        "n": lambda r: _number(r, 1, 10_000_000, whole=True), "steps": lambda r: _number(r, 1, 300, whole=True),
        "source": _choice(choices.sources), "index": lambda r: _number(r, 0, 10_000_000, whole=True),
        "caption": _caption, "damage": _choice(tuple(c for c in CORRUPTIONS if c != "mask")),
        "amount": lambda r: _number(r, 0.0, 1.0), "fill": _choice(FILLS),
        "seed": lambda r: _number(r, 0, SEED_MAX, whole=True), "fps": lambda r: _number(r, 0.0, 30.0),
    }


def query_params(link) -> dict[str, str]:
    """The parameters of a URL, a query string ("?a=1&b=2" or "a=1&b=2") or a mapping; the last of a repeated key."""
    if link is None:
        return {}
    if isinstance(link, Mapping):
        return {str(k): str(v) for k, v in link.items()}
    text = str(link).strip()[:MAX_QUERY]
    if "://" in text or text.startswith("/"):
        text = urlsplit(text).query
    return dict(parse_qsl(text.lstrip("?"), keep_blank_values=False))


def parse_link(link, defaults: Mapping | None = None, choices: Choices | None = None) -> Link:
    """Read a link into a :class:`Link` for its tab; never raises for bad values (they fall back to defaults).

    Args:
        link: a URL, a query string, or a mapping of parameters (Gradio's ``request.query_params``).
        defaults: the tab's values where the link has none (default: :data:`EXPLORE_DEFAULTS` for Explore;
            other tabs pass their controls' values).
        choices: the names valid here (default: read from the registries).
    """
    params = query_params(link)
    refused: list[tuple[str, str, str]] = []
    tab = params.pop("tab", "explore")
    if tab not in TABS:
        refused.append(("tab", tab, "unknown tab"))
        tab = "explore"
    present = params.pop("present", "0")
    if present not in ("0", "1"):
        refused.append(("present", present, "use 0 or 1"))
    keys = TAB_KEYS[tab]
    values = dict(EXPLORE_DEFAULTS if defaults is None else defaults)
    check = checkers((choices or Choices()).resolved())
    given = set()
    for key, raw in params.items():
        if key not in keys:
            refused.append((key, raw, f"not a setting of {tab}"))
            continue
        try:
            values[key] = check[key](raw)
            given.add(key)
        except ValueError as why:
            refused.append((key, raw, str(why)))
    return Link(tab=tab, values=values, given=given, refused=refused, present=present == "1")


def link_query(tab: str, values: Mapping, present: bool = False) -> str:
    """The query string ("tab=...&...") of a tab's values (None and "" left out), in the tab's key order."""
    if tab not in TABS:
        raise ValueError(f"A link restores one of the tabs {', '.join(TABS)}; got '{tab}'.")
    items = [("tab", tab)]
    for key in TAB_KEYS[tab]:
        v = values.get(key)
        if v is None or v == "":
            continue
        if isinstance(v, float) and v.is_integer():
            v = int(v)  # "n=1000", not "n=1000.0"; other floats keep every digit (str of a float round-trips)
        items.append((key, str(v)))
    if present:
        items.append(("present", "1"))
    return urlencode(items)
