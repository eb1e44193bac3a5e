"""The REST API, mounted by ``medviz serve`` under ``/api/v1``: routes only (read models, jobs, domain).

``create_api(state)`` builds the FastAPI app; ``state`` is the server's ``ServerState`` (store, job runner,
settings). The OpenAPI document is served at ``/api/v1/openapi.json`` and describes every route.
"""

from fastapi import FastAPI

from . import errors


def create_api(state) -> FastAPI:
    from .. import __version__
    from . import annotations, jobs, routes
    api = FastAPI(title="medviz API", version=__version__, openapi_url="/openapi.json", docs_url="/docs",
                  redoc_url=None, responses=errors.ERROR_RESPONSES,
                  description="Benchmarks, scores, errors, review units, annotations, jobs and embeddings of one "
                              "medviz store. Send `Authorization: Bearer <token>` (see `medviz tokens create`); "
                              "in local mode (loopback, no tokens) reads are open and writes name their author "
                              "in `X-Medviz-User`. Errors are JSON {error, file, record, field}.")
    api.state.medviz = state
    errors.install(api)
    api.include_router(routes.router)
    api.include_router(jobs.router)
    api.include_router(annotations.router)
    return api
