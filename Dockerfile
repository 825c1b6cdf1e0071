# syntax=docker/dockerfile:1
# One image for every part of kinfer: the command picks the part.
#   docker build -t kinfer:local .
#   docker run --rm kinfer:local worker --kafka kafka:9092
#   docker run --rm -p 8080:8080 -e KINFER_GATEWAY_HOST=0.0.0.0 kinfer:local gateway --kafka kafka:9092

# Stage 1: build the distribution jar with the Maven wrapper (it brings Maven; tests run in CI, not here).
FROM eclipse-temurin:17-jdk AS build
WORKDIR /src
COPY . .
# The cache mount keeps ~/.m2 (dependencies and the wrapper's Maven) between builds; it needs BuildKit, the
# default builder of Docker 23+ and of docker compose v2.
RUN --mount=type=cache,target=/root/.m2 \
    ./mvnw -B -q -DskipTests -pl distribution -am package \
    && cp distribution/target/kinfer.jar /kinfer.jar

# Stage 2: the JRE and the jar only. Ubuntu (glibc) based: ONNX Runtime's and the tokenizer's native libraries,
# shipped inside the jar, need glibc, so an Alpine (musl) base would not run them.
FROM eclipse-temurin:17-jre
# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it without a user name lookup.
RUN groupadd --system --gid 10001 kinfer \
    && useradd --system --uid 10001 --gid kinfer --home-dir /app --no-create-home --shell /usr/sbin/nologin kinfer \
    && mkdir -p /app \
    && chown kinfer:kinfer /app
WORKDIR /app
# Root-owned and read-only to the process; /app itself is writable for `kinfer up`'s and `kinfer broker`'s data.
COPY --from=build /kinfer.jar /app/kinfer.jar
# DJL extracts the tokenizer's native library here; /tmp is writable for the non-root user (and can be an emptyDir).
ENV DJL_CACHE_DIR=/tmp/djl
USER 10001:10001
# 8080: gateway HTTP; 9400: worker /metrics and /health.
EXPOSE 8080 9400
# Exec form: java is PID 1 and gets SIGTERM itself, so the shutdown hooks drain (workers finish queued batches).
ENTRYPOINT ["java","-XX:MaxRAMPercentage=75","-jar","/app/kinfer.jar"]
CMD ["--help"]
