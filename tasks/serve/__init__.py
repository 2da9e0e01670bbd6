"""The similarity service: both similarity tables of every published day, answered over HTTP.

``catalogue.py`` loads and refreshes the in-memory indexes; ``app.py`` assembles the FastAPI
app from one router per pipeline served (``image_features.py``, ``house_similarity.py``),
what they share (``common.py``) and the upload guards (``uploads.py``, which the explorer
uses too); ``cli.py`` adds ``lakesight serve`` and ``lakesight bench serve`` (``bench.py``,
driving ``locustfile.py``).
"""
