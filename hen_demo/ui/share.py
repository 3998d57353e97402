"""A link that restores a tab's setup: the URL follows the controls, a page opened from a link restores them.

* Every change of a linked control rewrites the page's query string in the browser (``history.replaceState``
  from a ``js=`` hook, no server round trip): ``?tab=explore&dataset=emoji&encoder=kl-small&...``.
* At page load the server reads ``gr.Request.query_params`` through the pure parser
  (``hen_demo.export.link.parse_link``) and sets the controls the link names; bad or stale values keep their
  defaults and one sentence says which (never an error page).
* "Copy link" copies the current address (and shows it in a box, for browsers that refuse the clipboard).

A tab calls :func:`build_link_bar` once with its controls by link key (the keys of
``hen_demo.export.link.TAB_KEYS``).
"""

from __future__ import annotations

import html
import json
import re

import gradio as gr

from hen_demo.export.link import LABELS, Choices, parse_link
from hen_demo.ui import state


def _choices() -> Choices:
    """The names a link may use here: available datasets, encoders and text encoders (as the dropdowns offer)."""
    avail = lambda pairs: tuple(v for label, v in pairs if "(unavailable" not in label)  # noqa: E731
    return Choices(datasets=avail(state.dataset_choices()), encoders=avail(state.encoder_choices()),
                   text_encoders=avail(state.text_encoder_choices()))


def markdown_text(text: str) -> str:
    """``text`` shown literally by gr.Markdown: a link's raw values may hold HTML or Markdown (never rendered)."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", text)


def sync_js(tab: str, keys: list[str], bar_id: str | None = None) -> str:
    """The js= hook that writes the controls' values (in ``keys`` order) into the address bar; with ``bar_id``
    only while that element (the tab's link bar) is on screen, so a tab in the background (its load handlers set
    its controls too) never overwrites the link of the tab on screen."""
    return f"""(...values) => {{
  const barId = {json.dumps(bar_id)};
  const bar = barId === null ? null : document.getElementById(barId);
  if (barId !== null && (!bar || bar.offsetParent === null)) return values;
  const keys = {json.dumps(keys)};
  const p = new URLSearchParams();
  p.set("tab", {json.dumps(tab)});
  keys.forEach((k, i) => {{
    const v = values[i];
    if (v !== null && v !== undefined && v !== "" && typeof v !== "object") p.set(k, String(v));
  }});
  if (document.body.classList.contains("hen-present")) p.set("present", "1");
  history.replaceState(history.state, "", location.pathname + "?" + p.toString());
  return values;
}}"""


# the app's tab label of each link tab (hen_demo.ui.app.TABS): a link opens its tab
TAB_LABELS = {"explore": "Explore", "compare": "Compare", "text2image": "Text → Image"}


def open_tab_js(tab: str) -> str:
    """At load: a link for ``tab`` (other than the first one) selects that tab."""
    return f"""() => {{
  if (new URLSearchParams(location.search).get("tab") !== {json.dumps(tab)}) return;
  const b = [...document.querySelectorAll("button[role=tab]")].find((x) => x.textContent.trim() === {json.dumps(TAB_LABELS[tab])});
  if (b) b.click();
}}"""


COPY_JS = """() => {
  const url = location.href;
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  return url;
}"""


def restore(tab: str, keys: list[str], defaults: dict, query_params) -> tuple[dict, str]:
    """(values to set by key — only those the link gives validly —, the sentence for the rest) for one tab.

    Beyond the parser's checks, N must fit the dataset (and the public cap) and the memory # must be below N.
    """
    link = parse_link(query_params, defaults=defaults, choices=_choices())
    if link.tab != tab:
        return {}, ""
    values = {k: link.values[k] for k in keys if k in link.given}
    refused = list(link.refused)
    dataset = values.get("dataset", defaults.get("dataset"))
    size = state.dataset_size(dataset) if dataset else None
    if "n" in values:
        try:
            values["n"] = state.snap_n(dataset, min(int(values["n"]), size or int(values["n"])))
        except ValueError as exc:
            refused.append(("n", str(values.pop("n")), str(exc).split(". ")[0].lower()))
    n = values.get("n", defaults.get("n"))
    if "index" in values and n is not None and values["index"] >= int(n):
        refused.append(("index", str(values.pop("index")), f"the bank holds #0 to #{int(n) - 1}"))
    link.refused = refused
    return values, link.sentence


def link_value(request, tab: str, key: str):
    """The valid value of ``key`` in the page's link when the link is for ``tab`` (else None): for a tab whose own
    load handler sets that control (Text → Image fills its caption from the dataset at load)."""
    params = getattr(request, "query_params", None) or {}
    if params.get("tab") != tab or key not in params:
        return None
    link = parse_link({"tab": tab, key: params[key]}, choices=_choices())
    return link.values[key] if key in link.given else None


def build_link_bar(tab: str, controls: dict[str, gr.components.Component], elem_prefix: str) -> dict:
    """"Copy link", the link box and the note; the address bar kept current; the controls restored at load.

    Args:
        tab: "explore", "compare" or "text2image" (``hen_demo.export.link.TABS``).
        controls: link key -> component (e.g. {"dataset": mc.dataset, "beta": mc.beta, ...}).
        elem_prefix: element ids ``{prefix}-copy-link``, ``{prefix}-link``, ``{prefix}-link-note``.
    """
    unknown = [k for k in controls if k not in LABELS]
    if unknown:
        raise ValueError(f"Not link keys: {unknown}; see hen_demo.export.link.LABELS.")
    keys = list(controls)
    comps = list(controls.values())
    defaults = {k: c.value for k, c in controls.items()}
    with gr.Row(equal_height=True, elem_id=f"{elem_prefix}-link-bar"):
        copy = gr.Button("🔗 Copy link to this setup", size="sm", scale=0, min_width=200,
                         elem_id=f"{elem_prefix}-copy-link")
        box = gr.Textbox(label="Link", show_label=False, interactive=False, scale=4, max_lines=1,
                         placeholder="the link appears here when copied", elem_id=f"{elem_prefix}-link")
    note = gr.Markdown(elem_id=f"{elem_prefix}-link-note")
    copy.click(None, None, box, js=COPY_JS, queue=False)
    js = sync_js(tab, keys, f"{elem_prefix}-link-bar")
    for comp in comps:
        comp.change(None, comps, None, js=js, queue=False, show_progress="hidden", api_visibility="private")

    def apply(request: gr.Request):
        values, sentence = restore(tab, keys, defaults, getattr(request, "query_params", None) or {})
        out = [values[k] if k in values else gr.skip() for k in keys]
        return (*out, f"⚠️ {markdown_text(sentence)}" if sentence else gr.skip())

    apply.__name__ = f"restore_{tab}_link"
    demo = gr.context.Context.root_block
    demo.load(apply, None, [*comps, note], api_visibility="private", show_progress="hidden", queue=False)
    if tab != "explore":
        demo.load(None, None, None, js=open_tab_js(tab))
    return {"copy": copy, "box": box, "note": note}

