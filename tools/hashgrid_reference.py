"""Reference values for the blended hash encoding of `nerf_avatar::hashgrid`.

Writes `crates/nerf_avatar/tests/data/hashgrid.json`: for a few grid configurations, the
level layout (scale, resolution, size, offset, hashed) and the encoded features of a few
points through a blended table, computed by an independent float64 implementation of
tiny-cuda-nn's HashGrid (standard library only) from the formulas below.

Layout, per level l = 0 .. L-1 (tiny-cuda-nn `GridEncodingTemplated`):

    b       = 2^(log2(N_max / N_min) / (L - 1))      the per-level scale (1 if L = 1)
    scale_l = 2^(l * log2 b) * N_min - 1
    res_l   = ceil(scale_l) + 1                       grid points per axis
    size_l  = min(next_multiple(res_l^3, 8), T)       T = 2^log2_table_size entries
    offset  = sum of the sizes of the levels before
    hashed  = res_l^3 > size_l                        (else dense, row-major, x fastest)

Encoding of a point x in [0, 1]^3 at level l: pos = x * scale_l + 0.5, cell = floor(pos),
frac = pos - cell; the 8 corners c = cell + {0, 1}^3 get the trilinear weights
prod_d (frac_d or 1 - frac_d) and the table index

    dense:  (c_x + c_y * res + c_z * res^2) mod size
    hashed: ((c_x * 1) xor (c_y * 2654435761) xor (c_z * 805459861) mod 2^32) mod size

(the coherent prime hash). The output is level-major: the F features of level 0, then
level 1, ... Each level's features are the weighted sum of the entries at offset + index
in the blended table h = h0 + sum_i w_i h_i (NeRFBlendShape), whose tables are given by a
formula so that none has to be stored:

    h_t[e][f] = sin(0.37 e + 1.3 f + 0.71 t) * (1 if t == 0 else 0.5 / t)

with t = 0 for h0, t = i for the i-th blendshape table, e the entry index over all levels.

The configurations are defined here; the blend weights and points (random draws whose seed
was not recorded) are read from the existing file (`--inputs`, default: the committed file),
everything else is recomputed.

Usage:

    python3 tools/hashgrid_reference.py            # rewrite the file
    python3 tools/hashgrid_reference.py --out PATH # write elsewhere
    python3 tools/hashgrid_reference.py --check    # compare with the committed file
    python3 tools/hashgrid_reference.py --check --out PATH  # compare with PATH instead

`--check` prints the largest difference and exits with status 1 if the structure differs
or a number differs by more than 1e-12 relative (relative to max(|expected|, 1), since the
features are sums of terms of size about 1). Tested with Python 3.
"""

import argparse
import json
import math
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/nerf_avatar/tests/data/hashgrid.json"

ABOUT = (
    "Reference values for the multiresolution hash encoding with blended tables.\n\n"
    "Independent float64 implementation of the tiny-cuda-nn HashGrid formula\n"
    "(coherent prime hash, scale = b^l * N_min - 1, res = ceil(scale) + 1,\n"
    "pos = x * scale + 0.5, level size = min(next_multiple(res^3, 8), T)),\n"
    "with NeRFBlendShape's blended table h = h0 + sum_i w_i h_i.\n"
    "Table values are defined by a formula so that no table has to be stored."
)
TABLE_VALUE = (
    "h_t[e][f] = sin(0.37*e + 1.3*f + 0.71*t) * (t == 0 ? 1 : 0.5/t); t = 0 is h0, "
    "t = i is the i-th blendshape table; e is the entry index over all levels "
    "(level offset + index in level)"
)
OUTPUT_LAYOUT = "level-major: features of level 0 (F values), then level 1, ..."

# The configurations, in the order of the cases: the paper's default grid and a small one.
CONFIGS = [
    {
        "levels": 16,
        "log2_table_size": 14,
        "features": 4,
        "base_resolution": 16,
        "finest_resolution": 1024,
        "blendshapes": 3,
    },
    {
        "levels": 4,
        "log2_table_size": 10,
        "features": 2,
        "base_resolution": 4,
        "finest_resolution": 64,
        "blendshapes": 2,
    },
]

PRIMES = (1, 2654435761, 805459861)
TOLERANCE = 1e-12


def per_level_scale(config):
    if config["levels"] <= 1:
        return 1.0
    ratio = config["finest_resolution"] / config["base_resolution"]
    return 2.0 ** (math.log2(ratio) / (config["levels"] - 1))


def layout(config):
    """The levels of a grid: scale, resolution, size, offset, hashed."""
    b = per_level_scale(config)
    max_size = 2 ** config["log2_table_size"]
    levels = []
    offset = 0
    for l in range(config["levels"]):
        # tiny-cuda-nn: exp2(level * log2(per_level_scale)) * base_resolution - 1.
        scale = 2.0 ** (l * math.log2(b)) * config["base_resolution"] - 1.0
        resolution = math.ceil(scale) + 1
        dense = resolution**3
        size = min(-(-dense // 8) * 8, max_size)
        levels.append(
            {
                "level": l,
                "scale": scale,
                "resolution": resolution,
                "size": size,
                "offset": offset,
                "hashed": dense > size,
            }
        )
        offset += size
    return b, levels, offset


def table_value(t, e, f):
    amplitude = 1.0 if t == 0 else 0.5 / t
    return math.sin(0.37 * e + 1.3 * f + 0.71 * t) * amplitude


def blended_entry(e, features, weights):
    """h[e] = h0[e] + sum_i w_i h_i[e], one value per feature."""
    return [
        table_value(0, e, f) + sum(w * table_value(i + 1, e, f) for i, w in enumerate(weights))
        for f in range(features)
    ]


def level_index(level, corner):
    size = level["size"]
    if level["hashed"]:
        index = 0
        for c, prime in zip(corner, PRIMES):
            index ^= (c * prime) & 0xFFFFFFFF
    else:
        res = level["resolution"]
        index = corner[0] + corner[1] * res + corner[2] * res * res
    return index % size


def encode(levels, features, weights, point):
    out = []
    for level in levels:
        scale = level["scale"]
        cell, frac = [], []
        for x in point:
            pos = min(max(x, 0.0), 1.0) * scale + 0.5
            floor = math.floor(pos)
            cell.append(floor)
            frac.append(pos - floor)
        acc = [0.0] * features
        for c in range(8):
            steps = [(c >> d) & 1 for d in range(3)]
            weight = 1.0
            for d in range(3):
                weight *= frac[d] if steps[d] else 1.0 - frac[d]
            corner = [cell[d] + steps[d] for d in range(3)]
            entry = level["offset"] + level_index(level, corner)
            values = blended_entry(entry, features, weights)
            for f in range(features):
                acc[f] += weight * values[f]
        out.extend(acc)
    return out


def make_case(config, weights, points):
    if len(weights) != config["blendshapes"]:
        raise SystemExit(f"{len(weights)} weights for {config['blendshapes']} blendshapes")
    b, levels, entries = layout(config)
    return {
        "config": dict(config),
        "per_level_scale": b,
        "levels": levels,
        "entries_per_table": entries,
        "weights": list(weights),
        "points": [list(p) for p in points],
        "features": [encode(levels, config["features"], weights, p) for p in points],
    }


def make_document(inputs):
    source = inputs["cases"]
    if len(source) != len(CONFIGS):
        raise SystemExit(f"{len(source)} cases in the inputs, {len(CONFIGS)} configurations here")
    cases = [make_case(config, case["weights"], case["points"]) for config, case in zip(CONFIGS, source)]
    return {
        "about": ABOUT,
        "table_value": TABLE_VALUE,
        "output_layout": OUTPUT_LAYOUT,
        "cases": cases,
    }


def compare(got, want, path, report):
    """Walks both documents; records structural differences and the largest number gaps."""
    if isinstance(want, bool) or isinstance(got, bool):
        if got is not want:
            report["errors"].append(f"{path}: {got!r} vs {want!r}")
    elif isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if isinstance(want, int) != isinstance(got, int):
            report["errors"].append(f"{path}: type {type(got).__name__} vs {type(want).__name__}")
            return
        diff = abs(got - want)
        if diff > report["max_abs"]:
            report["max_abs"], report["max_abs_at"] = diff, path
        relative = diff / max(abs(want), 1.0)
        report["max_rel"] = max(report["max_rel"], relative)
        if relative > TOLERANCE:
            report["errors"].append(f"{path}: {got!r} vs {want!r} (difference {diff:.3e})")
    elif isinstance(want, dict) and isinstance(got, dict):
        if list(got) != list(want):
            report["errors"].append(f"{path}: keys {list(got)} vs {list(want)}")
            return
        for key in want:
            compare(got[key], want[key], f"{path}.{key}", report)
    elif isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            report["errors"].append(f"{path}: length {len(got)} vs {len(want)}")
            return
        for i, (g, w) in enumerate(zip(got, want)):
            compare(g, w, f"{path}[{i}]", report)
    elif type(got) is not type(want) or got != want:
        report["errors"].append(f"{path}: {got!r} vs {want!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="file to write (default: %(default)s)")
    parser.add_argument(
        "--inputs",
        type=pathlib.Path,
        default=None,
        help="file to read the weights and points from (default: the committed file)",
    )
    parser.add_argument(
        "--check", action="store_true", help="recompute and compare with the file at --out instead of writing it"
    )
    args = parser.parse_args()

    inputs_path = args.inputs or OUT
    committed = json.loads(inputs_path.read_text())
    document = make_document(committed)

    if args.check:
        expected = json.loads(args.out.read_text())
        report = {"errors": [], "max_abs": 0.0, "max_abs_at": None, "max_rel": 0.0}
        compare(document, expected, "$", report)
        print(f"max abs difference {report['max_abs']:.3e} (at {report['max_abs_at']})")
        print(f"max relative difference {report['max_rel']:.3e} (tolerance {TOLERANCE:g})")
        for error in report["errors"][:20]:
            print(f"  {error}")
        if report["errors"]:
            print(f"{len(report['errors'])} differences with {args.out}")
            sys.exit(1)
        print(f"{args.out} matches")
        return

    # Same formatting as the committed file: one-space indent, no trailing newline.
    args.out.write_text(json.dumps(document, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
