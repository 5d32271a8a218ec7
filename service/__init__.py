"""The HTTP service: a thin FastAPI layer over ``matcher.engine`` (see ``service.app``)."""
