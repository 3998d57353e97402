"""How it works: the energy, the update rule and HEN's encode -> retrieve -> decode, in KaTeX.

Equation numbers follow the HEN paper (Hopfield Encoding Networks); the text says what each control of
the Explore tab changes in these formulas.
"""

from __future__ import annotations

import gradio as gr

from hen_demo.ui.landscape import STEP_LABEL

LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]

TEXT = r"""
## Modern Hopfield network (HEN eq. 1–2)
$N$ memories $\xi_1,\dots,\xi_N \in \mathbb{R}^K$ are the rows of $\Xi \in \mathbb{R}^{N\times K}$; the network's
state is $\mathbf{s}\in\mathbb{R}^K$. Retrieval minimises the energy

$$E(\mathbf{s}) \;=\; -\frac{1}{\beta}\,\log \sum_{n=1}^{N} \exp\!\big(\beta\, f_{\mathrm{sim}}(\xi_n,\mathbf{s})\big) \;+\; \tfrac12\,\mathbf{s}^\top\mathbf{s} \;+\; \text{const} \qquad (1)$$

(with the dot product $f_{\mathrm{sim}}(\xi_n,\mathbf{s}) = \xi_n^\top \mathbf{s}$; for the $\ell_2$ similarity
$f_{\mathrm{sim}} = -\lVert \xi_n - \mathbf{s}\rVert^2$ already contains $-\lVert\mathbf{s}\rVert^2$, so no extra
quadratic term is added). Each iteration replaces the state by a weighted average of the memories:

$$\mathbf{s}^{(t+1)} \;=\; \Xi^\top \operatorname{softmax}\!\big(\beta\, f_{\mathrm{sim}}(\Xi,\mathbf{s}^{(t)})\big)
\;=\; \sum_{n=1}^N p_n\,\xi_n,\qquad p_n = \frac{\exp(\beta\, f_{\mathrm{sim}}(\xi_n,\mathbf{s}^{(t)}))}{\sum_m \exp(\beta\, f_{\mathrm{sim}}(\xi_m,\mathbf{s}^{(t)}))} \qquad (2)$$

For the dot product and the $\ell_2$ similarity with softmax (or entmax) the energy never increases along
these updates (each one is a concave–convex step on eq. 1), and the state settles in an attractor; with the
Manhattan or cosine similarity the curve is shown for comparison but is not guaranteed to descend.

* **β** (inverse temperature) sharpens the softmax: large β picks one memory, small β averages many.
* The **weights** $p_n$ are the bars of the *top-k* plot. The **effective number of memories**
  $1/\sum_n p_n^2$ is 1 when one memory holds all the weight and $N$ when all are equal.
* A **metastable state** is an attractor where several memories share the weight: the decoded state
  is a blend of images. This happens when memories are not well separated (HEN sec. 3).
* *sparsemax* / *entmax* replace the softmax by a sparse map (exact zeros for most memories).

## Hopfield Encoding Networks (HEN eq. 5–7)
HEN stores and retrieves **encodings** instead of pixels. With an encoder $\Phi_{\mathrm{enc}}$ and its
decoder $\Phi_{\mathrm{dec}}$:

$$\hat\Xi = \Phi_{\mathrm{enc}}(\Xi), \qquad \hat{\mathbf{s}}^{(0)} = \Phi_{\mathrm{enc}}(\mathbf{s}^{(0)}) \qquad (5)$$

$$\hat{\mathbf{s}}^{(t+1)} = \hat\Xi^\top \operatorname{softmax}\!\big(\beta\, f_{\mathrm{sim}}(\hat\Xi,\hat{\mathbf{s}}^{(t)})\big) \qquad (6)$$

$$\mathbf{s}^{(T_f)} = \Phi_{\mathrm{dec}}\big(\hat{\mathbf{s}}^{(T_f)}\big) \qquad (7)$$

HEN's hypothesis: the encoder spreads the memories apart (compare the histograms in the *Separability* tab),
so fewer spurious attractors exist and the dynamics land on the right memory. Compared fairly — each
representation at its **calibrated β** (distances between codes and between pixels differ by about 10×, so one
absolute β is sharp for one and blurry for the other) with the one-shot nearest-neighbour ceiling beside it —
this project's small offline encoders help **random masking** and **grey-filled** halves a lot (emoji, 40 %
masked: kl-small 99.5 %, raw pixels 0.5 %, each equal to its NN ceiling), barely help **Gaussian noise** (pixels already do well), and a
**black half** leaves every representation low on tiles, faces and digits (7–28 %; L2 against a black half
favours memories whose hidden half is dark: run the attractor census in Explore) except the occlusion-trained *robust-small* — **our extension, not
the paper's** (held-out faces, bottom half black: 79.5 % vs raw pixels 2.5 %; NN ceilings 80 % and 3 %) — and the *mask-aware* raw-pixel
baseline that compares visible pixels only. (Emoji, which the shipped encoders were trained on, are the
exception: kl-small keeps 70 % under a black half, raw pixels 0 %, each at its NN ceiling.) The Explore tab decodes
$\hat{\mathbf{s}}^{(t)}$ at **every** iteration so you can watch eq. 6 work. The retrieved image is compared
with the encoder's own reconstruction $\Phi_{\mathrm{dec}}(\Phi_{\mathrm{enc}}(x))$ of the stored image
(MSE and $1-\mathrm{SSIM}$), as in the paper. With *raw pixels*, $\Phi_{\mathrm{enc}} = \Phi_{\mathrm{dec}} = I$:
the plain modern Hopfield network.

## Text → image (HEN sec. 3.2)
Memories concatenate an image code and a text code, $\hat\xi_n = [\Phi^{I}_{\mathrm{enc}}(I_n);\,
c\,\Phi^{T}_{\mathrm{enc}}(T_n)]$, where the *caption weight* $c$ scales the text half relative to the image
half (the paper: the two energy landscapes must be "appropriately normalized"). The query is
$\hat{\mathbf{s}}^{(0)} = [\mathbf{0};\, c\,\Phi^{T}_{\mathrm{enc}}(T)]$;
the text half is held fixed (clamped) while eq. 6 fills in the image half, which is then decoded with
$\Phi^{I}_{\mathrm{dec}}$. If one caption is bound to two images, the two memories are equally good
answers and the state stays a mixture of both (HEN Fig. 6).

## Reading the verdict
* **retrieved** — one memory holds at least 90 % of the weight and it is the one the query came from;
* **metastable mixture of k memories** — no memory reaches 90 % of the weight; about $k = 1/\sum_n p_n^2$
  memories share it;
* **wrong memory** — one memory dominates, but not the right one.
"""


LANDSCAPE_LINK = ("**See eq. 1 and 2 at work in the plane:** the Classroom's step 7 draws the energy of memories you "
                  "place by hand, the basin each start falls into, and the mixtures (metastable states) that appear "
                  "when β is small.")

# a client-side jump (no server round trip): open the Classroom tab, then its step 7 once it is on the page
OPEN_LANDSCAPE_JS = """() => {
  const tab = (text) => [...document.querySelectorAll('button[role="tab"]')].find(b => b.textContent.trim().startsWith(text));
  const outer = tab('Classroom');
  if (outer) outer.click();
  let tries = 0;
  const open = () => {
    const step = tab('%STEP%');
    if (step) { step.click(); step.scrollIntoView({block: 'start'}); } else if (tries++ < 50) setTimeout(open, 100);
  };
  open();
}""".replace("%STEP%", STEP_LABEL)


def build_tab() -> None:
    with gr.Row():
        gr.Markdown(LANDSCAPE_LINK, scale=4)
        gr.Button("Open the energy-landscape playground", scale=1, elem_id="howto-landscape").click(
            None, None, None, js=OPEN_LANDSCAPE_JS)
    gr.Markdown(TEXT, latex_delimiters=LATEX)
