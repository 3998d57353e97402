"""Presenter mode: a projector view of the app (a toggle in the header, or ``?present=1`` in the address).

On: the ``hen-present`` class is set on ``<body>`` and ``presenter.css`` (its own stylesheet, appended to the
app's) enlarges text and plot labels for a 1280 × 720 projector (plot text >= 20 px), switches to
high-contrast colours, hides every "Advanced" accordion, and shows one big "Next iteration" button. Keyboard
shortcuts (whenever the focus is not in a text field): space = Step while the tab's run is under way, else Retrieve;
r = Replay; s = Stop. All of it runs in the browser; the server only reads ``?present=1`` at load.
"""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

CSS = Path(__file__).with_name("presenter.css").read_text(encoding="utf-8")
BODY_CLASS = "hen-present"

# the buttons the shortcuts press: the first one visible wins (the tab on screen); "step" buttons first, so
# "Next iteration" advances a run under way by one step where a tab offers Step, and starts a retrieval elsewhere
NEXT_IDS = ["explore-step", "explore-retrieve", "compare-retrieve", "t2i-retrieve"]
# a Step button counts only while its tab's status says a run is under way (playing back, paused, running): with
# nothing to step through (a fresh page, a run that converged or was stopped) "Next iteration" is Retrieve
STEP_WHEN = {"explore-step": ["explore-status", r"paused|playing back|· running"]}
REPLAY_IDS = ["explore-replay"]
STOP_IDS = ["explore-stop"]

INSTALL_JS = f"""() => {{
  if (window.henPresenter) return;
  const visible = (el) => el && el.offsetParent !== null;
  const when = {json.dumps(STEP_WHEN)};
  const ready = (el) => {{
    const w = when[el.id];
    return !w || new RegExp(w[1]).test(document.getElementById(w[0])?.innerText || "");
  }};
  const first = (ids) => ids.map((i) => document.getElementById(i)).find((el) => visible(el) && ready(el));
  const byText = (word) => [...document.querySelectorAll("button")].find((b) => visible(b) && b.textContent.trim() === word);
  const press = (ids, word) => {{ const b = first(ids) || (word ? byText(word) : null); if (b) b.click(); return !!b; }};
  const tagAdvanced = () => document.querySelectorAll("button.label-wrap").forEach((b) => {{
    if (b.textContent.trim().startsWith("Advanced")) {{ const blk = b.closest(".block"); if (blk) blk.classList.add("hen-advanced"); }}
  }});
  window.henPresenter = {{
    next: () => press({NEXT_IDS!r}, "Recall from caption"),
    replay: () => press({REPLAY_IDS!r}, "Replay"),
    stop: () => press({STOP_IDS!r}, "Stop"),
    set: (on) => {{
      tagAdvanced();
      document.body.classList.toggle("{BODY_CLASS}", !!on);
      const p = new URLSearchParams(location.search);
      if (on) p.set("present", "1"); else p.delete("present");
      const q = p.toString();
      history.replaceState(history.state, "", location.pathname + (q ? "?" + q : ""));
      window.dispatchEvent(new Event("resize"));  // plots re-measure their width
    }},
  }};
  new MutationObserver(() => {{ if (document.body.classList.contains("{BODY_CLASS}")) tagAdvanced(); }})
    .observe(document.body, {{ childList: true, subtree: true }});
  document.addEventListener("keydown", (e) => {{
    if (!document.body.classList.contains("{BODY_CLASS}") || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    const key = e.key.toLowerCase();
    const done = key === " " ? window.henPresenter.next() : key === "r" ? window.henPresenter.replay()
      : key === "s" ? window.henPresenter.stop() : false;
    if (done) {{ e.preventDefault(); if (t && t.tagName === "BUTTON") t.blur(); }}  // no second, native click
  }});
  if (new URLSearchParams(location.search).get("present") === "1") window.henPresenter.set(true);
}}"""

TOGGLE_JS = "(on) => { if (window.henPresenter) window.henPresenter.set(on); return on; }"
NEXT_JS = "() => { if (window.henPresenter) window.henPresenter.next(); }"


def wants_presenter(request: gr.Request) -> bool | object:
    """``?present=1`` -> the toggle on (its change applies the mode); anything else leaves it as it is."""
    params = getattr(request, "query_params", None) or {}
    return True if str(params.get("present", "")) == "1" else gr.skip()


def build_presenter_controls() -> dict:
    """The header's "Presenter mode" toggle and the big "Next iteration" button (shown only in the mode)."""
    with gr.Row(elem_id="hen-presenter-bar"):
        toggle = gr.Checkbox(value=False, label="Presenter mode (projector: large text, space = next, r = replay, "
                                                "s = stop)", elem_id="hen-present-toggle", container=False, scale=0,
                             min_width=420)
        nxt = gr.Button("Next iteration ▶", variant="primary", elem_id="hen-next", elem_classes="hen-present-only",
                        scale=0, min_width=240)
    toggle.change(None, toggle, None, js=TOGGLE_JS, queue=False, show_progress="hidden")
    nxt.click(None, None, None, js=NEXT_JS, queue=False)
    demo = gr.context.Context.root_block
    demo.load(None, None, None, js=INSTALL_JS)
    demo.load(wants_presenter, None, toggle, api_visibility="private", queue=False, show_progress="hidden")
    return {"toggle": toggle, "next": nxt}
