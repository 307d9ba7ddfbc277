# videoguard moderation API. Installs exactly as `make install` does: torch pinned first, then the package.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    VIDEOGUARD_HOME=/var/lib/videoguard

# libgomp for torch/onnxruntime threading; nothing else is needed (PyAV and OpenCV wheels bundle FFmpeg).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY guard ./guard
COPY generator ./generator
COPY classifiers ./classifiers
COPY watermark ./watermark

# CPU wheel of torch from the PyTorch index; pinned so no other package can pull a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install .

RUN useradd --system --create-home --home-dir /home/videoguard videoguard \
    && mkdir -p /var/lib/videoguard && chown videoguard /var/lib/videoguard
USER videoguard
VOLUME ["/var/lib/videoguard"]

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)" || exit 1
CMD ["videoguard", "serve", "--host", "0.0.0.0", "--port", "8080"]
