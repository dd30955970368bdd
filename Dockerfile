FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gridcrew gridcrew
COPY gateway gateway
COPY dispatch dispatch
COPY mobile_api mobile_api
COPY simulators simulators
COPY schemas schemas
COPY deploy deploy
RUN pip install --no-cache-dir .
ENV GRIDCREW_DATA_DIR=/data
CMD ["gridcrew", "--help"]
