"""The app's public API for scripts (gradio_client): which endpoints are listed, and which are UI plumbing.

Every event handler of a Blocks app is an endpoint. Only the retrievals a script would call are public;
everything else (previews, gallery clicks, linked sliders, teaching-figure redraws, example loaders) is
marked ``api_visibility="private"`` (Gradio 6): the browser still calls it, ``/info`` and gradio_client do not
list it. README.md ("Use from a script") documents the public endpoints with an example.
"""

from __future__ import annotations

import gradio as gr

# api_name -> one line for the README and the /info page
PUBLIC_ENDPOINTS: dict[str, str] = {
    "retrieve": "Explore: one HEN retrieval (stored memory, upload or caption query); streams, the last "
                "message has every output",
    "upload_query": "Explore: load an image file as the query canvas",
    "compare": "Compare: the same corrupted query through two configurations",
    "text_to_image": "Text → Image: a caption retrieves its image (HEN sec. 3.2)",
    "separability": "Separability: self vs cross cosine similarities (HEN Fig. 3)",
    "run_uhop": "U-Hop: plain MHN vs the learned kernel",
    "add_memories": "Your images: add image files or a .zip to the calling session's private bank (every skipped "
                    "file gets a sentence); then use dataset 'mine' in the other endpoints",
    "my_memories": "Your images: the calling session's bank (status, thumbnails, captions table)",
}


def hide_plumbing(demo: gr.Blocks, public: dict[str, str] | None = None) -> list[str]:
    """Make every endpoint of ``demo`` private except those named in ``public``; returns the public names."""
    public = PUBLIC_ENDPOINTS if public is None else public
    kept = []
    for fn in demo.fns.values():
        if fn.api_name in public and fn.api_visibility != "private":
            kept.append(fn.api_name)
            if not fn.api_description:
                fn.api_description = public[fn.api_name]
        else:
            fn.api_visibility = "private"
    return kept
