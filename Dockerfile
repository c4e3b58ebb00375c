# One image, two entrypoints: the Widget extension API server (default) and the operator
# (`node dist/operator/main.js`). NODE_IMAGE can name a locally built base where no registry is reachable.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The base may set NODE_ENV=production; the build needs the dev dependencies (TypeScript).
RUN npm ci --include=dev --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="aggregator-operator" \
      org.opencontainers.image.description="Widget extension API server and the AggregatedAPI operator" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY crds ./crds
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["node"]
# The Widget server's V8 flags are WIDGET_SERVER_NODE_FLAGS in src/operator/reconcile/desired.ts.
CMD ["--max-semi-space-size=4", "dist/widget-server/main.js", "--bind-address=0.0.0.0"]
