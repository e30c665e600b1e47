#!/usr/bin/env bash
# mypy, strict on the engine (core/), through the installed names: the source folders install as
# debias_studio.core / .gui / .cli (setup.py's package-dir mapping), which mypy cannot follow
# through the editable finder, so a throw-away tree of links lays them out as they install.
set -euo pipefail
cd "$(dirname "$0")/.."
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/debias_studio"
touch "$tree/debias_studio/__init__.py"
for folder in core gui cli resources; do ln -s "$(pwd -P)/$folder" "$tree/debias_studio/$folder"; done
MYPYPATH="$tree" mypy -p debias_studio.core
