# syntax=docker/dockerfile:1
# The platform (API, outbox relay, workers) and the SDK in one image, built
# from this repository: `docker compose build`, or `docker build -t noreboot-hq .`.
# The builder compiles nothing the final image needs a compiler for again: every
# package goes into a virtual environment that the final stage copies whole.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The dependency layers first, so a change to the code does not reinstall them.
COPY pyproject.toml ./
COPY sdk/pyproject.toml sdk/README.md sdk/
COPY sdk/noreboot sdk/noreboot
RUN pip install --no-cache-dir . "./sdk[openfeature]"

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/noreboot-metrics \
    NOREBOOT_BIND=0.0.0.0:8000
RUN groupadd --system --gid 10001 noreboot \
    && useradd --system --uid 10001 --gid noreboot --home-dir /app --shell /usr/sbin/nologin noreboot
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root manage.py ./
COPY --chown=root:root platform platform
COPY --chown=root:root apps apps
COPY --chown=root:root deploy/serve.py deploy/
COPY --chown=root:root scripts scripts
# The code belongs to root and is read-only for the service user; it writes
# only its metrics files under /tmp.
# Numeric, so that Kubernetes runAsNonRoot can check it.
USER 10001:10001
EXPOSE 8000
# The API by default; compose runs the relay and the workers from the same
# image with their own commands (their health is not an HTTP probe).
CMD ["python", "deploy/serve.py"]
