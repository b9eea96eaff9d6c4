#!/usr/bin/env bash
# Installs every build, test and client dependency of sigprop from Debian 12 (bookworm) packages.
# The list is ../shared/DEBIAN-PACKAGES.md; nothing is downloaded from anywhere else.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git openssl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libeigen3-dev libabsl-dev libtbb-dev librandom123-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-grpcio python3-protobuf python3-numpy python3-scipy python3-pandas
  python3-matplotlib python3-pytest python3-yaml gcovr
  python3-setuptools python3-venv python3-pip mypy
  python3-nbclient python3-nbformat python3-ipykernel python3-tqdm python3-xarray
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
