# claude-gateway from its wheel: the steps .ci/wheel_smoke runs (build the wheel, install it into
# a fresh venv, `gateway init`, `gateway check`, `gateway serve`). docs/deploy.md tells how to
# use it; this project's machines run no container runtime, so CI builds the wheel, not this image.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --no-cache-dir -q -w /dist .

FROM python:3.11-slim
COPY --from=wheel /dist/ /tmp/dist/
RUN python -m venv /opt/gateway \
 && /opt/gateway/bin/pip install --no-cache-dir -q "$(ls /tmp/dist/*.whl)[postgres,tracing]" \
 && rm -r /tmp/dist \
 && useradd --create-home gateway
USER gateway
WORKDIR /home/gateway
RUN /opt/gateway/bin/gateway init config && /opt/gateway/bin/gateway check config/routes.yaml
WORKDIR /home/gateway/config
# The gateway refuses a non-loopback address without a token: set GATEWAY_TOKEN.
ENV PATH=/opt/gateway/bin:$PATH HOST=0.0.0.0 PORT=8000
EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "import urllib.request as r; r.urlopen('http://127.0.0.1:8000/health', timeout=5)"]
CMD ["gateway", "serve", "--no-reload"]
