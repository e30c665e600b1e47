#!/usr/bin/env bash
# The distribution as a user gets it: build the wheel, check that it claims only our namespace and
# carries its resources, install it into a fresh virtual environment where the checkout's editable
# install is NOT active, and run demo -> embed -> discover from a folder outside the checkout.
#
# Run from the CI venv (.ci/run does): its packages serve as the wheel's dependencies through a
# .pth file, which adds their folders to sys.path without running the .pth files inside them, so
# the editable finder of the checkout never loads.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$(pwd -P)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "wheel check: building"
# sdist first, then the wheel from the unpacked sdist: no stale build/ folder of the checkout
# can slip a deleted module into the wheel, and the sdist is proven complete on the way.
python -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || {
    cat "$work/build.log"
    exit 1
}
wheel="$(ls "$work"/dist/*.whl)"

echo "wheel check: contents of $(basename "$wheel")"
python - "$wheel" <<'EOF'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
top = {name.split("/")[0] for name in names}
extra = sorted(t for t in top if t != "debias_studio" and not t.endswith(".dist-info"))
assert not extra, f"the wheel installs top-level names besides debias_studio: {extra}"
needed = [
    "debias_studio/resources/concepts/concept_bank.json",
    "debias_studio/resources/models/demo-clip/open_clip_config.json",
    "debias_studio/resources/models/demo-clip/open_clip_model.safetensors",
    "debias_studio/core/py.typed",
]
missing = [name for name in needed if name not in names]
assert not missing, f"the wheel lacks {missing}"
EOF

echo "wheel check: installing into a fresh venv"
python -m venv "$work/venv"
python - "$work/venv" "$checkout" <<'EOF'
import os
import sys
import sysconfig
from pathlib import Path

venv, checkout = Path(sys.argv[1]), Path(sys.argv[2])
stdlib = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
folders = []
for entry in sys.path:
    path = Path(entry or ".").resolve()
    inside = path == checkout or checkout in path.parents
    if not path.is_dir() or (inside and "site-packages" not in path.parts):
        continue  # the checkout's sources; its .venv's site-packages (CI's venv) do serve
    in_stdlib = path in stdlib or any(root in path.parents for root in stdlib)
    if in_stdlib and "site-packages" not in path.parts:  # a venv's platstdlib holds its site-packages
        continue
    folders.append(str(path))
site = next(venv.glob("lib/python*/site-packages"))
(site / "ci-dependencies.pth").write_text("\n".join(folders) + "\n", encoding="utf-8")
EOF
"$work/venv/bin/python" -m pip install -q --no-deps --no-index "$wheel"

mkdir "$work/outside"
cd "$work/outside"
export HF_HUB_OFFLINE=1 DEBIAS_STUDIO_CACHE="$work/cache"
"$work/venv/bin/python" - "$work/venv" <<'EOF'
import sys
from importlib.resources import files
from pathlib import Path

import debias_studio.cli
import debias_studio.core
import debias_studio.resources

venv = Path(sys.argv[1]).resolve()
editable = [f for f in sys.meta_path if "editable" in getattr(f, "__module__", "").lower()]
assert not editable, f"the checkout's editable finder is active: {editable}"
for module in (debias_studio.core, debias_studio.cli, debias_studio.resources):
    where = Path(module.__file__).resolve()
    assert venv in where.parents, f"{module.__name__} was imported from {where}, not the wheel"
bank = files("debias_studio.resources") / "concepts" / "concept_bank.json"
assert bank.is_file(), bank
print("wheel check: imported from", Path(debias_studio.core.__file__).parent)
EOF
studio="$work/venv/bin/debias-studio"
# the console script (debias_studio.cli.main:main) runs, and --version reads pyproject's version
version="$(python -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$checkout/pyproject.toml")"
test "$("$studio" --version)" = "debias-studio $version"
echo "wheel check: debias-studio $version"
"$studio" demo project --per-class 20
"$studio" embed project
"$studio" discover project --json rows.json
test -s rows.json
echo "wheel check: passed"
