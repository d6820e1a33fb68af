# ecr-emulator: the standalone server (the ECR API and the /v2/ registry on one port).
#
#   docker build -t ecr-emulator .
#   docker run --rm -p 127.0.0.1:5000:5000 ecr-emulator
#
# BASE_IMAGE is any image with python3 (>= 3.10) and its venv module. With a wheels/ directory in
# the build context the install is offline and uses only those wheels, so the image also builds
# with `--network none` (see examples/README.md for how to fill wheels/).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN python3 -m venv /opt/ecr-emulator \
 && if [ -d wheels ]; then set -- --no-index --find-links=/src/wheels; fi \
 && /opt/ecr-emulator/bin/pip install --quiet "$@" /src \
 && /opt/ecr-emulator/bin/ecr-emulator --help >/dev/null

FROM ${BASE_IMAGE}
COPY --from=build /opt/ecr-emulator /opt/ecr-emulator
RUN mkdir -p /var/lib/ecr-emulator && chown 65532:65532 /var/lib/ecr-emulator
ENV PATH=/opt/ecr-emulator/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 5000
# The server stops gracefully on SIGTERM (requests in flight finish, state is flushed).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/_emulator/health', timeout=2)"]
ENTRYPOINT ["ecr-emulator"]
# repositoryUri and proxyEndpoint name 127.0.0.1:5000, the address published above; override
# --registry-host when clients reach the container under another name (compose: ecr:5000).
CMD ["serve", "--host", "0.0.0.0", "--port", "5000", "--data-dir", "/var/lib/ecr-emulator", "--registry-host", "127.0.0.1:5000"]
