# syntax=docker/dockerfile:1
# The canaria controller image: compiled in one stage, production dependencies only in the last,
# running as a numeric non-root user with node as PID 1's program (no npm in the way of signals).
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS production-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY analysis-templates ./analysis-templates
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "dist/main.js"]
