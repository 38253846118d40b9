#!/usr/bin/env bash
# Installs everything voice_coach needs on a fresh Debian/Ubuntu machine: system packages
# (only the missing ones), a virtual environment in .venv, and the package itself.
# Usage: tools/setup.sh [run|dev]   (dev adds the test tools). Safe to run again: it only
# does work when something is missing or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

APT_PACKAGES=(espeak-ng libespeak-ng1 ffmpeg libportaudio2 sox flite pocketsphinx-testdata
              pulseaudio pulseaudio-utils libasound2-plugins alsa-utils)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "voice-coach setup: installing system packages: ${missing[*]}" >&2
  sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "voice-coach setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "voice-coach setup: Python 3.11 or newer is needed (found $("$python" --version))" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extra=""; [ "$mode" = dev ] && extra="[dev]"
stamp=".venv/.installed-$mode-$( (cat pyproject.toml; echo "$mode") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "voice-coach setup: installing the package into .venv ($mode)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 >/dev/null \
    | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c 'import voice_coach' 
  rm -f .venv/.installed-"$mode"-*
  touch "$stamp"
fi
