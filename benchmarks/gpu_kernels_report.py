"""Static resources of the CUDA path's register-blocked product kernels, without a GPU.

Compiles every tiling of ``fastmlp.kernels.cuda_layers.GEMM_TILES`` (and the
one-output-per-thread ``gemm_kernel``) to PTX for one architecture (default
sm_90, H100/H200) with Numba's CUDA target, runs the CUDA toolkit's ``ptxas
-v`` on it and prints a Markdown table: registers per thread, spill stores and
loads, stack frame, static shared memory per block, the resulting occupancy on
that architecture, and the inner loop's instruction mix (the PTX basic block
with the most FMAs among those reading shared memory: FMAs / all its
instructions, and its shared-memory loads; the same from the SASS when
``nvdisasm`` is found, ``--nvdisasm PATH``).
Run from the project root with NUMBA_ENABLE_CUDASIM unset:

    python benchmarks/gpu_kernels_report.py [--cc 9.0] [--ptxas PATH] [--json]

``--json`` prints one JSON object per kernel instead (``tests/cuda`` reads it
to keep "no spills" true); ``--auto-only`` leaves out the tilings that the
shape choice never picks for a dtype (the tests' tiny ones included). Exit
status 77 when no CUDA compiler (NVVM) or ptxas is available here.
"""

import argparse
import glob
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# sm_90 limits per multiprocessor (CUDA occupancy calculator)
REGS_PER_SM = 65536
REG_UNIT = 256  # registers are allocated per warp in units of 256
MAX_WARPS = 64
MAX_BLOCKS = 32
SMEM_PER_SM = 233472  # 228 KiB
SMEM_RESERVED = 1024  # per block


def find_ptxas(given):
    if given:
        return given
    found = shutil.which("ptxas") or sorted(glob.glob("/usr/local/cuda*/bin/ptxas"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def occupancy(regs, smem, threads):
    """(blocks per SM, occupancy in warps / 64) on sm_90."""
    warps = -(-threads // 32)
    per_warp = -(-regs * 32 // REG_UNIT) * REG_UNIT
    by_regs = (REGS_PER_SM // per_warp) // warps if per_warp else MAX_BLOCKS
    by_smem = SMEM_PER_SM // (smem + SMEM_RESERVED)
    by_threads = MAX_WARPS // warps
    blocks = min(by_regs, by_smem, by_threads, MAX_BLOCKS)
    return blocks, blocks * warps / MAX_WARPS


def inner_loop_mix(ptx):
    """FMAs, instructions and shared loads of the PTX basic block holding the most FMAs."""
    best = (0, 1, 0)
    for block in re.split(r"\n\$L__BB\d+_\d+:", ptx):
        lines = [ln.strip() for ln in block.splitlines()]
        ins = [ln for ln in lines if ln.endswith(";") and not ln.startswith(
            (".reg", ".shared", ".local", ".param", "//", ".loc", ".file", ".visible", ".entry"))]
        fma = sum(1 for ln in ins if re.match(r"fma\.rn\.f(32|64)", ln))
        lds = sum(1 for ln in ins if ln.startswith("ld.shared"))
        if lds and fma > best[0]:  # the product's loop reads shared memory
            best = (fma, len(ins), lds)
    return best


def sass_loop_mix(ptxas, nvdisasm, ptx_path, arch):
    """(FMAs, instructions, shared loads) of the SASS basic block holding the most
    FMAs among those reading shared memory (``nvdisasm`` of ptxas' cubin)."""
    cubin = ptx_path + ".cubin"
    subprocess.run([ptxas, f"-arch={arch}", "-O3", ptx_path, "-o", cubin], check=True,
                   capture_output=True)
    sass = subprocess.run([nvdisasm, "-c", cubin], check=True, capture_output=True,
                          text=True).stdout
    best = (0, 1, 0)
    for block in re.split(r"\n\.L_x_\d+:", sass):
        ins = [ln for ln in block.splitlines() if re.search(r"/\*[0-9a-f]{4}\*/", ln)]
        fma = sum(1 for ln in ins if re.search(r"\b[FD]FMA\b", ln))
        lds = sum(1 for ln in ins if re.search(r"\bLDS\b", ln))
        if lds and fma > best[0]:
            best = (fma, len(ins), lds)
    return best


def ptxas_info(ptxas, ptx_path, arch):
    r = subprocess.run([ptxas, f"-arch={arch}", "-v", "-O3", ptx_path, "-o", os.devnull],
                       capture_output=True, text=True, check=True)
    text = r.stderr
    regs = int(re.search(r"Used (\d+) registers", text).group(1))
    smem = re.search(r"(\d+) bytes smem", text)
    stack = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads",
                      text)
    return dict(registers=regs, smem=int(smem.group(1)) if smem else 0,
                stack=int(stack.group(1)), spill_stores=int(stack.group(2)),
                spill_loads=int(stack.group(3)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cc", default="9.0")
    p.add_argument("--ptxas", default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--nvdisasm", default=shutil.which("nvdisasm"),
                   help="CUDA's nvdisasm (e.g. from the nvidia-cuda-nvdisasm wheel): "
                        "adds the SASS inner loop's instruction mix")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--auto-only", action="store_true",
                   help="only the tilings 'auto' may pick (config.CUDA_GEMM_TILES), "
                        "and gemm_kernel")
    args = p.parse_args()
    ptxas = find_ptxas(args.ptxas)
    sys.path.insert(0, str(ROOT / "tests" / "cuda"))
    sys.path.insert(0, str(ROOT))
    import compile_kernels as ck
    from numba import cuda, types

    ck.without_device()
    reason = ck.toolkit_missing()
    if reason or not ptxas:
        print("no CUDA compiler/ptxas here:", (reason or "ptxas not found").splitlines()[0])
        return 77
    from fastmlp import config
    from fastmlp.kernels import cuda_layers as kern

    cc = tuple(int(x) for x in args.cc.split("."))
    arch = f"sm_{cc[0]}{cc[1]}"
    out = tempfile.mkdtemp()
    rows = []
    kernels = [("gemm_kernel", None)] + [(f"gemm_{name}_kernel", name) for name in kern.GEMM_TILES]
    for dtype_name in args.dtypes.split(","):
        dtype = getattr(types, dtype_name)
        for kname, tile_name in kernels:
            if args.auto_only and tile_name is not None and tile_name not in \
                    config.CUDA_GEMM_TILES.get(dtype_name, ()):
                continue
            func = getattr(kern, kname).py_func
            sig = tuple(ck.argument_type(q, dtype) for q in inspect.signature(func).parameters)
            ptx, _ = cuda.compile_ptx(func, sig, cc=cc)
            path = os.path.join(out, f"{kname}_{dtype_name}.ptx")
            with open(path, "w") as f:
                f.write(ptx)
            info = ptxas_info(ptxas, path, arch)
            if tile_name is None:
                tile, threads = f"{config.CUDA_TILE}x{config.CUDA_TILE} tiled, 1x1", \
                    config.CUDA_TILE ** 2
            else:
                t = kern.GEMM_TILES[tile_name]
                threads = (t.bm // t.tm) * (t.bn // t.tn)
                tile = f"{t.bm}x{t.bn}x{t.bk}, {t.tm}x{t.tn}"
            # gemm_kernel's shared arrays are sized for CUDA_TILE_MAX whatever the tile
            blocks, occ = occupancy(info["registers"], info["smem"], threads)
            fma, n_ins, lds = inner_loop_mix(ptx)
            sass = sass_loop_mix(ptxas, args.nvdisasm, path, arch) if args.nvdisasm else None
            used = dtype_name in config.CUDA_GEMM_TILES and tile_name in \
                config.CUDA_GEMM_TILES[dtype_name]
            rows.append(dict(kernel=kname, dtype=dtype_name, tile=tile, threads=threads,
                             auto=used or tile_name is None, **info, blocks_per_sm=blocks,
                             occupancy=occ, loop_fma=fma, loop_instructions=n_ins,
                             loop_ld_shared=lds, fma_share=fma / n_ins,
                             sass_loop=sass and dict(fma=sass[0], instructions=sass[1],
                                                     lds=sass[2], fma_share=sass[0] / sass[1])))
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print(f"{arch}, ptxas {ptxas}" + (f", nvdisasm {args.nvdisasm}" if args.nvdisasm else ""))
    print("| kernel | dtype | tile (BMxBNxBK, micro) | threads | auto | regs | spills (st/ld B) "
          "| stack B | smem B | blocks/SM | occupancy "
          "| PTX inner loop: FMA / instr (share), ld.shared "
          "| SASS inner loop: FMA / instr (share), LDS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kernel']} | {r['dtype']} | {r['tile']} | {r['threads']} | "
              f"{'yes' if r['auto'] else 'tests'} | {r['registers']} | "
              f"{r['spill_stores']}/{r['spill_loads']} | {r['stack']} | {r['smem']} | "
              f"{r['blocks_per_sm']} | {r['occupancy']:.0%} | {r['loop_fma']} / "
              f"{r['loop_instructions']} ({r['fma_share']:.0%}), {r['loop_ld_shared']} | "
              + (f"{r['sass_loop']['fma']} / {r['sass_loop']['instructions']} "
                 f"({r['sass_loop']['fma_share']:.0%}), {r['sass_loop']['lds']} |"
                 if r["sass_loop"] else "no nvdisasm |"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
