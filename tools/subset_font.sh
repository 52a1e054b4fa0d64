#!/usr/bin/env bash
# Makes assets/fonts/DejaVuSans-ASCII.ttf, the font of the report plots: DejaVu Sans 2.37
# (Debian package fonts-dejavu-core, upstream https://dejavu-fonts.github.io/) cut down to
# printable ASCII plus a few symbols, with fontTools' pyftsubset. The licence (Bitstream
# Vera licence; DejaVu changes in the public domain) is in assets/fonts/LICENSE-DejaVu.txt.
#
#     python3 -m venv /tmp/font-venv && /tmp/font-venv/bin/pip install fonttools
#     PATH=/tmp/font-venv/bin:$PATH tools/subset_font.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source_font="${1:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}"
pyftsubset "$source_font" \
    --unicodes="U+0020-007E,U+00B0,U+00B7,U+00D7,U+2013,U+2212" \
    --layout-features='' --no-hinting --desubroutinize \
    --output-file=assets/fonts/DejaVuSans-ASCII.ttf
