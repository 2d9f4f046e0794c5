# syntax=docker/dockerfile:1
# items-service image: built on Debian with the full toolchain, run on distroless Node 24 (no shell, no
# package manager, nothing to patch but Node and glibc), as a numeric non-root user, with a read-only
# root file system. Build: docker build --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse --short HEAD) .

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: no dependency needs one to build or run here, and the `node` devDependency's
# would download a second Node 24 (the base image's builds), outside the lockfile.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund \
  && mkdir -p /data

# debian12 like the build stage, so that a native addon built there finds the same glibc.
FROM gcr.io/distroless/nodejs24-debian12 AS runtime
ARG VERSION=""
ARG COMMIT=""
LABEL org.opencontainers.image.title="items-service" \
  org.opencontainers.image.description="Items HTTP API on NestJS with a durable JSON-file store" \
  org.opencontainers.image.licenses="MIT" \
  org.opencontainers.image.version="${VERSION}" \
  org.opencontainers.image.revision="${COMMIT}"
# APP_ENV=prod: start-up insists on API_KEYS (or API_KEYS_FILE) or an explicit AUTH_DISABLED=true.
ENV NODE_ENV=production \
  APP_ENV=prod \
  PORT=8080 \
  DB_PATH=/data/items.json \
  BUILD_VERSION="${VERSION}" \
  BUILD_COMMIT="${COMMIT}"
WORKDIR /app
# Root owns the code, so the service cannot change it even where the root file system is writable.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# A new named volume copies this directory's owner, so the service can write to it.
COPY --from=build --chown=65534:65534 /data /data
USER 65534:65534
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/nodejs/bin/node", "dist/health/container-healthcheck.js"]
# Node is PID 1 and gets SIGTERM itself (no npm, no shell); the service handles it, and it has no
# children to reap. The flags are start:prod's (package.json); a test checks that they match.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=4", "--heap-growing-percent=30", "dist/main.js"]
