# Stepstone CA. Build: docker build -t stepstone .
# First run:  docker run --rm -v stepstone:/home/step -v $PWD/pw:/run/pw:ro stepstone \
#               init --name "My CA" --dns ca.internal,127.0.0.1 --password-file /run/pw
# Serve:      docker run -d -p 9000:9000 -v stepstone:/home/step -v $PWD/pw:/run/pw:ro stepstone \
#               serve --password-file /run/pw

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY config/openssl.cnf ./config/openssl.cnf
RUN useradd --system --uid 10001 --create-home --home-dir /home/step step
USER step
ENV STEPPATH=/home/step NODE_ENV=production
VOLUME ["/home/step"]
EXPOSE 9000
# Liveness only: the answer's certificate is the CA's own, checked by real clients against the root.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD node -e "require('https').get({host:'127.0.0.1',port:9000,path:'/health',rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
# Run as a program, bin/stepstone starts node with its settings (see its first lines).
ENTRYPOINT ["/app/bin/stepstone"]
CMD ["serve", "--password-file", "/run/secrets/password"]
