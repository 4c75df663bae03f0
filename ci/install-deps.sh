#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, from Debian's packages:
# a C compiler for the grading fixtures, xmllint to validate JUnit against its schema,
# Chromium to check the HTML report in a real browser, iproute2 for namespace checks, perl
# for `prove` (TAP::Harness) to read the TAP output.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
command -v prove >/dev/null 2>&1 || need+=(perl)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci/install-deps.sh: missing ${need[*]}; run this script as root (or install them) first" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
