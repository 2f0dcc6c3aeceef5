#!/usr/bin/env bash
# Install what Cunxiang needs on Debian/Ubuntu: system packages, a venv, the package.
# Used by `make demo`, `make test` and .ci/run. Idempotent and quick when all is present.
#   scripts/bootstrap.sh          runtime (espeak-ng, ffmpeg, mosquitto)
#   scripts/bootstrap.sh --test   also the test tools (chromium, a CJK font, dev packages)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

packages=(espeak-ng libespeak-ng1 ffmpeg mosquitto mosquitto-clients)
[ "$want_test" = 1 ] && packages+=(chromium fonts-wqy-microhei)
"$PYTHON" -m venv --help >/dev/null 2>&1 || packages+=(python3-venv)
"$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "bootstrap: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" -V))" >&2; exit 1; }

extra=""
[ "$want_test" = 1 ] && extra="[dev]"
stamp="$VENV/.cunxiang-installed$extra"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing the package into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".$extra"
  touch "$stamp"
fi
