# The idemsim image that deploy/k8s/sweep-job.yaml runs: the release binary and the shipped
# scenarios. Build it from the repository root, naming the commit (the image has no .git,
# so sweep lines and `idemsim build-info` learn the commit from this argument):
#
#   docker build --build-arg IDEMSIM_GIT_COMMIT=$(git rev-parse HEAD) -t idemsim .

FROM rust:1-slim-bookworm AS build
ARG IDEMSIM_GIT_COMMIT=
ENV IDEMSIM_GIT_COMMIT=${IDEMSIM_GIT_COMMIT}
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin idemsim

FROM debian:bookworm-slim
COPY --from=build /src/target/release/idemsim /usr/local/bin/idemsim
COPY sim-scenarios /idemsim/sim-scenarios
WORKDIR /idemsim
CMD ["idemsim", "--help"]
