"""HEN Explorer: associative memories you can watch work.

Data flows one way: dataset -> encoder -> memory bank -> retrieval dynamics -> decoder -> metrics -> UI.

* ``hen_demo.memory``      the math (modern Hopfield, sparse/entmax, U-Hop, KMN, classical memories)
* ``hen_demo.encoders``    image and text encoders behind one interface, and their registry
* ``hen_demo.data``        datasets, query corruptions and cached memory banks
* ``hen_demo.pipeline``    HEN end to end: encode a query, retrieve in latent space, decode
* ``hen_demo.metrics``     MSE, 1-SSIM, identity accuracy, metastability and separability statistics
* ``hen_demo.experiments`` the papers' figures and tables as runnable experiments
* ``hen_demo.ui``          the Gradio app (wiring and presentation only)
"""

__version__ = "0.1.0"
