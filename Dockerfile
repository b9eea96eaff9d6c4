# sigprop-server and the sigprop CLI in a Debian 12 image.
#
#   podman build --format docker --build-arg BASE=localhost/debian-minbase:bookworm -t sigprop .
#   podman run -d -p 127.0.0.1:50051:50051 -v sigprop-data:/var/lib/sigprop sigprop
#
# BASE is any Debian 12 (bookworm) root file system: the public debian:bookworm-slim, or one made
# offline with debootstrap and `podman import` (deploy/container-test.sh does that). The build
# stage and the runtime stage start from the same BASE, so the shared libraries copied across
# match the C library they were built against.
# (--format docker: the OCI image format has no HEALTHCHECK.)
ARG BASE=docker.io/library/debian:bookworm-slim

FROM ${BASE} AS build
# Build dependencies only: the package list of deploy/install-deps.sh minus tests, benchmarks and
# the Python client. A layer of its own, so source changes do not re-install it.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libeigen3-dev libabsl-dev libtbb-dev librandom123-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
# The README's preset; tests and benchmarks are not part of the image.
RUN cmake --preset release -DSIGPROP_BUILD_TESTS=OFF -DSIGPROP_BUILD_BENCH=OFF \
 && cmake --build --preset release --target sigprop-server sigprop
# Stage the two binaries and the shared libraries they load (ldd's closure). Each library goes to
# its directory's real path (/lib is a link to /usr/lib on Debian 12; copying a /lib directory over
# it would break the runtime image), under the name the loader asks for.
RUN mkdir -p /staging/usr/local/bin \
 && cp build/release/server/sigprop-server build/release/client/sigprop /staging/usr/local/bin/ \
 && for lib in $(ldd /staging/usr/local/bin/sigprop-server /staging/usr/local/bin/sigprop \
                 | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' \
                 | sort -u); do \
      dir=$(readlink -f "$(dirname "$lib")") && mkdir -p "/staging$dir" && cp -L "$lib" "/staging$dir/"; \
    done

FROM ${BASE}
COPY --from=build /staging/ /
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/sigprop --shell /usr/sbin/nologin sigprop \
 && mkdir -p /var/lib/sigprop && chown sigprop:sigprop /var/lib/sigprop \
 && ldconfig
USER sigprop
WORKDIR /var/lib/sigprop
VOLUME ["/var/lib/sigprop"]
EXPOSE 50051
# The probe talks to the grpc.health.v1 service: SERVING exits 0. Health needs no token.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["sigprop", "health", "--target", "127.0.0.1:50051"]
# The server handles SIGTERM itself (sigwait), also as PID 1: health goes NOT_SERVING, running
# points stop at their next layer and resume on restart from the db, the process exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sigprop-server"]
# Listening beyond loopback needs --tokens FILE (mount it) or --insecure. The default is
# --insecure so that a published port works out of the box: publish it on 127.0.0.1 only
# (-p 127.0.0.1:50051:50051) or replace these arguments with --tokens on a shared network.
CMD ["--listen=0.0.0.0:50051", "--db=/var/lib/sigprop/sigprop.db", "--insecure"]
