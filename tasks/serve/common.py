"""What every pipeline's routes in the service use: the checked query parameters, and the
catalogues and upload gate that ``create_app`` keeps in the app's state.

Routes take the catalogues per request (``Served``), never as a copy: a refresh swaps in a
new catalogue, and the next query reads it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from lakesight.serve.catalogue import Catalogues
from lakesight.serve.uploads import UploadGate

SHA256 = r"^[0-9a-f]{64}$"
MAX_K = 100
# FastAPI resolves the routes' annotations (strings, PEP 563) in their modules' globals:
# each router module imports these names.
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many hits")]


# async: a lookup in the app's state needs no trip to the thread pool.
async def served_catalogues(request: Request) -> Catalogues:
    return request.app.state.catalogues


async def upload_gate(request: Request) -> UploadGate:
    return request.app.state.uploads


Served = Annotated[Catalogues, Depends(served_catalogues)]
Gate = Annotated[UploadGate, Depends(upload_gate)]
