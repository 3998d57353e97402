"""The app's look in one place: the font, text and plot sizes (as CSS variables), the Gradio theme.

Gradio's Soft theme names "Montserrat", and the local file Gradio ships under that name is *Montserrat
Alternates* (curly E, N, M: "HEN" read as "HƐΝ", issue 19 §11). The app uses a plain font stack instead, with
nothing to download: Noto Sans or DejaVu Sans (Linux, Android), Segoe UI (Windows), Helvetica Neue (macOS, iOS),
then Roboto and Arial, then the browser's own sans-serif. Every family is installed by the operating system,
so the page works offline and serves no font file.

The sizes are for a room: plot ticks and axis labels of 16 px or more at 1280×720 (issue 19 §9). Presenter
mode (and anything else that enlarges the page) changes the CSS variables of :func:`css_variables` or the
Python constants below, never a copy of them.
"""

from __future__ import annotations

import gradio as gr

# families in the order the browser tries them; the last is the generic keyword (kept unquoted by Gradio)
FONT_STACK: tuple[str, ...] = ("Noto Sans", "DejaVu Sans", "Segoe UI", "Helvetica Neue", "Roboto", "Arial",
                               "sans-serif")
MONO_STACK: tuple[str, ...] = ("DejaVu Sans Mono", "Noto Sans Mono", "Consolas", "Menlo", "monospace")

# Plotly sizes in px (Plotly takes numbers, not CSS variables): ticks / legend, axis titles, figure titles
PLOT_FONT_PX = 16
PLOT_AXIS_TITLE_PX = 17
PLOT_TITLE_PX = 18
# the teaching tabs (Classroom, U-Hop): a projector at the back of a room
PROJECTOR_FONT_PX = 18
PROJECTOR_TITLE_PX = 21


def css_family(stack: tuple[str, ...]) -> str:
    """A CSS font-family value: every name quoted except the generic keyword at the end."""
    generic = {"sans-serif", "serif", "monospace", "system-ui", "ui-sans-serif", "ui-monospace"}
    return ", ".join(name if name in generic else f'"{name}"' for name in stack)


FONT_FAMILY = css_family(FONT_STACK)  # also Plotly's font family, so plots and page share one font


def theme() -> gr.themes.Base:
    """Gradio's Soft theme with the plain font stack (strings: system fonts, no @font-face, nothing fetched)."""
    return gr.themes.Soft(font=list(FONT_STACK), font_mono=list(MONO_STACK))


def css_variables() -> str:
    """The CSS variables the stylesheet (style.css) reads: one place for the font and the text sizes."""
    return (":root {\n"
            f"  --hen-font: {FONT_FAMILY};\n"
            f"  --hen-font-mono: {css_family(MONO_STACK)};\n"
            "  --hen-text: 16px;        /* body text, labels, dropdown values */\n"
            "  --hen-text-small: 14px;  /* component info lines, image chips */\n"
            "  --hen-h1: 1.35rem;\n"
            "}\n")


__all__ = ["FONT_FAMILY", "FONT_STACK", "PLOT_FONT_PX", "PLOT_TITLE_PX", "css_family", "css_variables", "theme"]
