"""HEN Explorer — Gradio app entry point (also the Hugging Face Spaces ``app_file``).

Thin on purpose: everything lives in ``hen_demo.ui``.
"""

from hen_demo.ui.app import build_app, launch

demo = build_app()

if __name__ == "__main__":
    launch(demo)
