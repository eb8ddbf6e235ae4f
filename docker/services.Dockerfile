# syntax=docker/dockerfile:1
# The fleet's Python services: one build stage, three distroless images.
#
#   docker build -f docker/services.Dockerfile --target hive .
#   (targets: hive, assets, assetmgr; the build context is the repository root)
#
# The runtime base has Python 3.11 and nothing else: no shell, no package
# manager, and a non-root user (uid 65532). The build stage uses the same
# Python minor version and glibc generation (Debian 12), so compiled wheels
# (asyncpg, numpy, cryptography, uvloop) built there run unchanged.
ARG BUILD_IMAGE=python:3.11-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/python3-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml ./
COPY shared shared
COPY services services
COPY infra/migrations infra/migrations
# Into a plain directory, not a virtualenv: a venv's interpreter links would
# point at the build image's Python. The bytecode is compiled here because
# the runtime never writes a file.
RUN pip install --no-cache-dir --disable-pip-version-check --target /app/lib . \
    && python -m compileall -q /app/lib

FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=build /app/lib /app/lib
COPY docker/healthcheck.py /app/healthcheck.py
ENV PYTHONPATH=/app/lib \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KEYFORGE_ENV=prod \
    KEYFORGE_LISTEN_HOST=0.0.0.0
WORKDIR /app
USER 65532:65532

FROM runtime AS hive
ENV KEYFORGE_LISTEN_PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 \
    CMD ["/usr/bin/python3", "/app/healthcheck.py", "http://127.0.0.1:3000/health"]
ENTRYPOINT ["/usr/bin/python3", "-m", "keyforge_hive"]

FROM runtime AS assets
ENV KEYFORGE_LISTEN_PORT=3001
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=4s --start-period=15s --retries=3 \
    CMD ["/usr/bin/python3", "/app/healthcheck.py", "http://127.0.0.1:3001/health"]
ENTRYPOINT ["/usr/bin/python3", "-m", "keyforge_assets"]

FROM runtime AS assetmgr
# The system assets ship in the image; a volume mounted here replaces them.
COPY data/system /app/data/system
ENV KEYFORGE_LISTEN_PORT=3003 \
    KEYFORGE_ASSETS_DIR=/app/data/system
EXPOSE 3003
HEALTHCHECK --interval=10s --timeout=4s --start-period=15s --retries=3 \
    CMD ["/usr/bin/python3", "-m", "keyforge_assetmgr", "--check"]
ENTRYPOINT ["/usr/bin/python3", "-m", "keyforge_assetmgr"]
