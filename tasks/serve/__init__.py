"""The similarity service: both similarity tables of every published day, answered over HTTP.

``catalogue.py`` loads and refreshes the in-memory indexes, ``app.py`` is the FastAPI
app, ``cli.py`` adds ``lakesight serve`` and ``lakesight bench serve`` (``bench.py``,
driving ``locustfile.py``).
"""
