# The map's web library: Leaflet and its cluster plugin from the npm registry,
# laid out as scripts/setup.d/map.sh vendors them (the image never uses a CDN).
FROM node:22-slim AS map-vendor
WORKDIR /build
RUN npm install --no-audit --no-fund leaflet@1.9.4 leaflet.markercluster@1.5.3 \
 && mkdir -p vendor/leaflet vendor/markercluster \
 && cp -r node_modules/leaflet/dist/. vendor/leaflet/ \
 && cp node_modules/leaflet.markercluster/dist/leaflet.markercluster.js \
       node_modules/leaflet.markercluster/dist/MarkerCluster.css \
       node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css \
       vendor/markercluster/ \
 && echo "leaflet@1.9.4 leaflet.markercluster@1.5.3" > vendor/.versions

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gridcrew gridcrew
COPY gateway gateway
COPY dispatch dispatch
COPY mobile_api mobile_api
COPY --from=map-vendor /build/vendor mobile_api/map/static/vendor
COPY simulators simulators
COPY schemas schemas
COPY deploy deploy
RUN pip install --no-cache-dir .
# No secret is baked in: every service refuses to start until GRIDCREW_DEVICE_SECRET,
# GRIDCREW_SERVICE_PASSWORD and GRIDCREW_JWT_SECRET are given (docs/security.md).
ENV GRIDCREW_DATA_DIR=/data
CMD ["gridcrew", "--help"]
